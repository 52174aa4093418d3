package salesforce

import "errors"

// Salesforce record ids are 15 case-sensitive base-62 characters, usually sent
// as 18 characters: the 15 plus a 3-character suffix that encodes which of the
// first 15 characters are upper case, so the id survives case-insensitive
// systems. The first three characters are the object's key prefix (001 for
// Account, 003 for Contact, 00Q for Lead, 006 for Opportunity).

const idSuffixAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

// ErrMalformedID reports an id that is not 15 or 18 base-62 characters, or an
// 18-character id whose case-safe suffix does not match its first 15.
var ErrMalformedID = errors.New("salesforce: malformed id")

// ID18 returns the 18-character form of a 15- or 18-character id. An 18-character
// id is checked and returned unchanged.
func ID18(id string) (string, error) {
	switch len(id) {
	case 15:
		if !base62(id) {
			return "", ErrMalformedID
		}
		return id + idSuffix(id), nil
	case 18:
		if !base62(id[:15]) || idSuffix(id[:15]) != id[15:] {
			return "", ErrMalformedID
		}
		return id, nil
	default:
		return "", ErrMalformedID
	}
}

// ValidID reports whether id is a well-formed 15- or 18-character Salesforce id.
func ValidID(id string) bool {
	_, err := ID18(id)
	return err == nil
}

// SameID reports whether a and b name the same record, comparing a 15-character
// id with its 18-character form.
func SameID(a, b string) bool {
	if len(a) < 15 || len(b) < 15 {
		return false
	}
	return a[:15] == b[:15]
}

// IDPrefix returns the key prefix (the first three characters) of an id, or "".
func IDPrefix(id string) string {
	if len(id) < 3 {
		return ""
	}
	return id[:3]
}

func idSuffix(id15 string) string {
	var out [3]byte
	for chunk := 0; chunk < 3; chunk++ {
		bits := 0
		for i := 0; i < 5; i++ {
			c := id15[chunk*5+i]
			if c >= 'A' && c <= 'Z' {
				bits |= 1 << i
			}
		}
		out[chunk] = idSuffixAlphabet[bits]
	}
	return string(out[:])
}

func base62(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

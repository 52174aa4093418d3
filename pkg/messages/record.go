package messages

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/kinetic-sync/kinetic/internal/jsontext"
)

// DecodeRecord decodes a record payload: exactly one JSON object. Anything
// else (empty, not JSON, an array, a string, trailing data) is a
// *DecodeError with CodeUndecodable; a payload over maxBytes (when > 0) is one
// with CodeTooLarge. The result is encoding/json.Unmarshal's (numbers as
// float64, invalid UTF-8 as U+FFFD, the last of repeated keys kept),
// computed by jsontext.ParseObject in a third of encoding/json/v2's time:
// this is the worker's hottest decoding path (docs/performance.md,
// "Hand-written codecs"). FuzzDecodeRecord holds it to encoding/json.
func DecodeRecord(data []byte, maxBytes int) (map[string]any, error) {
	if maxBytes > 0 && len(data) > maxBytes {
		return nil, &DecodeError{Code: CodeTooLarge, Msg: fmt.Sprintf("payload is %d bytes; the limit is %d", len(data), maxBytes)}
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, &DecodeError{Code: CodeUndecodable, Msg: "empty payload: want a JSON object"}
	}
	if trimmed[0] != '{' {
		return nil, &DecodeError{Code: CodeUndecodable, Msg: "payload is not a JSON object"}
	}
	rec, err := jsontext.ParseObject(data)
	if err != nil {
		return nil, &DecodeError{Code: CodeUndecodable, Msg: "payload is not valid JSON", Err: err}
	}
	return rec, nil
}

// EncodeRecord encodes a record as the plain JSON object published.
func EncodeRecord(rec map[string]any) ([]byte, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encoding record: %w", err)
	}
	return b, nil
}

package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// A transform turns a source value into the value sent to Salesforce. The
// value is never nil (nulls and missing values are handled before).
type transformFunc func(v any) (any, error)

// Transform names accepted in the mapping config. The original's names
// (lowercase, uppercase, strip, date_iso, datetime_iso) are aliases.
var transformNames = []string{"lower", "upper", "trim", "int", "float", "bool", "date", "datetime", "string", "const"}

var transformAliases = map[string]string{
	"lowercase":    "lower",
	"uppercase":    "upper",
	"strip":        "trim",
	"date_iso":     "date",
	"datetime_iso": "datetime",
	"integer":      "int",
	"double":       "float",
	"boolean":      "bool",
	"str":          "string",
}

// errEmpty marks a blank string given to a typed transform (int, float, bool,
// date, datetime): the value is then treated as null.
var errEmpty = errors.New("empty value")

// newTransform resolves a transform name. layout and tz configure date and
// datetime; an unknown name is an error listing the known ones.
func newTransform(name, layout string, tz *time.Location) (transformFunc, error) {
	canon := strings.ToLower(strings.TrimSpace(name))
	if a, ok := transformAliases[canon]; ok {
		canon = a
	}
	switch canon {
	case "lower":
		return textTransform("lower", strings.ToLower), nil
	case "upper":
		return textTransform("upper", strings.ToUpper), nil
	case "trim":
		return textTransform("trim", strings.TrimSpace), nil
	case "int":
		return toInt, nil
	case "float":
		return toFloat, nil
	case "bool":
		return toBool, nil
	case "string":
		return toString, nil
	case "date":
		return dateTransform(layout, tz, false), nil
	case "datetime":
		return dateTransform(layout, tz, true), nil
	case "const":
		return nil, nil // handled by the rule: it ignores the source
	}
	return nil, fmt.Errorf("unknown transform %q (known: %s)", name, strings.Join(transformNames, ", "))
}

func textTransform(name string, f func(string) string) transformFunc {
	return func(v any) (any, error) {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s: expects text, got %s", name, describe(v))
		}
		return f(s), nil
	}
}

func toInt(v any) (any, error) {
	switch x := v.(type) {
	case float64:
		if x != math.Trunc(x) || math.IsInf(x, 0) || math.Abs(x) > 1<<53 {
			return nil, fmt.Errorf("int: %v is not a whole number", x)
		}
		return int64(x), nil
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case json.Number:
		return toInt(string(x))
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return nil, errEmpty
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
		// "12.0" is a whole number written as a decimal.
		if f, err := strconv.ParseFloat(s, 64); err == nil && f == math.Trunc(f) && math.Abs(f) <= 1<<53 {
			return int64(f), nil
		}
		return nil, fmt.Errorf("int: %q is not a whole number", x)
	}
	return nil, fmt.Errorf("int: expects a number, got %s", describe(v))
}

func toFloat(v any) (any, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case json.Number:
		return toFloat(string(x))
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return nil, errEmpty
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("float: %q is not a number", x)
		}
		return f, nil
	}
	return nil, fmt.Errorf("float: expects a number, got %s", describe(v))
}

// toBool fixes the original's bool("false") == True: the usual spellings of
// false are false.
func toBool(v any) (any, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case float64:
		switch x {
		case 0:
			return false, nil
		case 1:
			return true, nil
		}
		return nil, fmt.Errorf("bool: %v is neither 0 nor 1", x)
	case int:
		return toBool(float64(x))
	case int64:
		return toBool(float64(x))
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "":
			return nil, errEmpty
		case "true", "t", "yes", "y", "1", "on":
			return true, nil
		case "false", "f", "no", "n", "0", "off":
			return false, nil
		}
		return nil, fmt.Errorf("bool: %q is not true/false, yes/no, 1/0 or on/off", x)
	}
	return nil, fmt.Errorf("bool: expects true/false, got %s", describe(v))
}

func toString(v any) (any, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case bool:
		return strconv.FormatBool(x), nil
	case json.Number:
		return string(x), nil
	}
	return nil, fmt.Errorf("string: cannot turn %s into text", describe(v))
}

// Default layouts tried by date and datetime when no layout is configured.
var (
	dateLayouts     = []string{"2006-01-02", time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05"}
	datetimeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z0700", "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"}
)

// Salesforce formats: date "2006-01-02"; datetime with milliseconds and offset.
const (
	sfDate     = "2006-01-02"
	sfDatetime = "2006-01-02T15:04:05.000Z07:00"
)

// dateTransform parses text with layout (a Go time layout; default: ISO
// forms) in tz (default UTC) and formats it as a Salesforce date or datetime.
func dateTransform(layout string, tz *time.Location, withTime bool) transformFunc {
	layouts := dateLayouts
	name, out := "date", sfDate
	if withTime {
		layouts, name, out = datetimeLayouts, "datetime", sfDatetime
	}
	if layout != "" {
		layouts = []string{layout}
	}
	if tz == nil {
		tz = time.UTC
	}
	return func(v any) (any, error) {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s: expects text, got %s", name, describe(v))
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, errEmpty
		}
		for _, l := range layouts {
			if t, err := time.ParseInLocation(l, s, tz); err == nil {
				if withTime {
					return t.UTC().Format(sfDatetime), nil
				}
				return t.Format(out), nil
			}
		}
		if layout != "" {
			return nil, fmt.Errorf("%s: %q does not match layout %q", name, s, layout)
		}
		return nil, fmt.Errorf("%s: %q is not an ISO %s", name, s, name)
	}
}

// describe names a value's JSON type for error messages, without its content
// (records may hold personal data).
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "text"
	case float64, float32, int, int64, int32, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("a %T", v)
}

package jsontext

import (
	jsonv2 "github.com/go-json-experiment/json"
	v2text "github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// The simulator reads each request body with encoding/json/v2, from
// github.com/go-json-experiment/json, the module it is developed in (Go 1.27
// makes it the standard library's encoding/json/v2, and that module's import
// an alias of it); the batch-result and dead-letter envelopes are read with
// it too. It decodes the same documents into the same values 2-4x faster
// than encoding/json (v1), with a quarter of the allocations; see
// docs/performance.md, "encoding/json/v2 on the decoding paths". A worker's
// records, the hottest path, are read by ParseObject, three times faster
// still; the encoders do not use v2, which marshals maps no faster than v1:
// request bodies are written by AppendValue, batch results by
// pkg/messages' appendBatchResult on AppendString, dead letters by
// encoding/json.

// V1Reading makes encoding/json/v2 read JSON as encoding/json (v1) reads it
// into an any, so that moving a decoder to v2 changes no result:
//   - a repeated object key is allowed, and its last value replaces the
//     earlier ones (v2 would reject it, or merge a repeated object into the
//     first);
//   - invalid UTF-8 in a string is read as U+FFFD (v2 would reject it).
//
// Numbers are float64 and objects map[string]any either way. The fuzz test
// FuzzBodyReaderMatchesEncodingJSON (sfsim) holds the body reader to
// encoding/json.
var V1Reading = jsonv2.JoinOptions(
	v2text.AllowDuplicateNames(true),
	v2text.AllowInvalidUTF8(true),
	jsonv1.MergeWithLegacySemantics(true),
)

// V1Strict makes encoding/json/v2 decode into a Go struct exactly as
// encoding/json (v1) does with DisallowUnknownFields: v1's options in full
// (case-insensitive names, v1's time and number formats, its merging), and a
// member the struct does not know is an error. The envelopes of batch
// results and dead letters are read so; FuzzDecodeBatchResult holds that to
// v1. v2 decodes a 200-outcome batch result in about a third of v1's time.
var V1Strict = jsonv2.JoinOptions(
	jsonv1.DefaultOptionsV1(),
	jsonv2.RejectUnknownMembers(true),
)

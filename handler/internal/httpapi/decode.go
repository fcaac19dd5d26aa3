package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
)

// MaxBodyBytes bounds every request body the handler reads, unless a route
// that receives larger payloads (Event Grid events) reads with ReadBodyLimit.
const MaxBodyBytes = 64 << 10

// ReadBody reads the whole request body, at most MaxBodyBytes. A larger body
// is a 413 problem.
func ReadBody(r *http.Request) ([]byte, error) { return ReadBodyLimit(r, MaxBodyBytes) }

// ReadBodyLimit reads the whole request body, at most limit bytes. A larger
// body is a 413 problem.
func ReadBodyLimit(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, NewProblem(http.StatusBadRequest, CodeInvalidRequest, "the request body could not be read").WithCause(err)
	}
	if int64(len(b)) > limit {
		return nil, tooLarge(limit)
	}
	return b, nil
}

func tooLarge(limit int64) *Problem {
	return Problemf(http.StatusRequestEntityTooLarge, CodeBodyTooLarge,
		"the request body is larger than %d bytes", limit)
}

// DecodeJSON reads a JSON request body into dst, refusing unknown fields,
// trailing data, a non-JSON content type (415) and oversized bodies (413).
// With optional set, an empty body leaves dst untouched and is not an error.
func DecodeJSON(r *http.Request, dst any, optional bool) error {
	body, err := ReadBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return NewProblem(http.StatusBadRequest, CodeInvalidJSON, "a JSON request body is required")
	}
	if err := RequireJSONContentType(r); err != nil {
		return err
	}
	return UnmarshalStrict(body, dst)
}

// UnmarshalStrict decodes one JSON value into dst, refusing unknown fields,
// keys that match a field only case-insensitively, keys given twice at any
// depth, and trailing data, with problems that name what is wrong. Values
// held as json.RawMessage (foreign payloads) are left to their own decoding.
func UnmarshalStrict(body []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonProblem(err)
	}
	if dec.More() {
		return NewProblem(http.StatusBadRequest, CodeInvalidJSON, "the request body holds more than one JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return NewProblem(http.StatusBadRequest, CodeInvalidJSON, "the request body has data after its JSON value")
	}
	if err := checkNames(body, reflect.TypeOf(dst)); err != nil {
		var p *Problem
		if errors.As(err, &p) {
			return p
		}
		return jsonProblem(err)
	}
	return nil
}

// RequireJSONContentType is a 415 problem unless the request's Content-Type is
// application/json or another JSON type (application/<x>+json, as
// application/cloudevents-batch+json), parameters such as charset allowed.
func RequireJSONContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return nil
	}
	return Problemf(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType,
		"the request body must be application/json, not %q", ct).WithHeader("Accept-Post", "application/json")
}

func jsonProblem(err error) *Problem {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return Problemf(http.StatusBadRequest, CodeInvalidJSON, "the request body is not valid JSON (at byte %d): %v", syn.Offset, err)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		p := Problemf(http.StatusBadRequest, CodeInvalidRequest, "field %q must be %s, not JSON %s", field, typ.Type, typ.Value)
		p.Errors = []FieldError{{Field: field, Detail: fmt.Sprintf("must be %s", typ.Type)}}
		return p
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return NewProblem(http.StatusBadRequest, CodeInvalidJSON, "the request body is truncated JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		p := Problemf(http.StatusBadRequest, CodeUnknownField, "the request body has an unknown field %s", name)
		p.Errors = []FieldError{{Field: strings.Trim(name, `"`), Detail: "unknown field"}}
		return p
	default:
		return NewProblem(http.StatusBadRequest, CodeInvalidJSON, "the request body is not valid JSON: "+err.Error())
	}
}

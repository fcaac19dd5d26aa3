package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// MaxBatch is the most operations one entity group transaction may hold.
const MaxBatch = 100

// Op is one operation of a batch; build it with InsertOp, ReplaceOp,
// UpsertOp or DeleteOp.
type Op struct {
	kind    aztables.TransactionType
	rk      string
	v       any
	ifMatch azcore.ETag
}

// InsertOp adds an entity (the batch fails with ErrConflict if it exists).
func InsertOp(rk string, v any) Op { return Op{kind: aztables.TransactionTypeAdd, rk: rk, v: v} }

// ReplaceOp replaces an entity whose ETag matches ifMatch.
func ReplaceOp(rk string, v any, ifMatch azcore.ETag) Op {
	return Op{kind: aztables.TransactionTypeUpdateReplace, rk: rk, v: v, ifMatch: ifMatch}
}

// UpsertOp inserts or replaces an entity.
func UpsertOp(rk string, v any) Op {
	return Op{kind: aztables.TransactionTypeInsertReplace, rk: rk, v: v}
}

// DeleteOp deletes an entity whose ETag matches ifMatch (azcore.ETagAny: any).
func DeleteOp(rk string, ifMatch azcore.ETag) Op {
	return Op{kind: aztables.TransactionTypeDelete, rk: rk, ifMatch: ifMatch}
}

// ErrBatchTooLarge is returned before sending a batch of more than MaxBatch operations.
var ErrBatchTooLarge = fmt.Errorf("a batch holds at most %d operations", MaxBatch)

// BatchError says which operation made a batch fail; nothing in the batch
// was applied. It unwraps to the typed error (ErrConflict, ...).
type BatchError struct {
	Index int // the failing operation, -1 if unknown
	Err   error
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("batch failed at operation %d: %v", e.Index, e.Err)
}
func (e *BatchError) Unwrap() error { return e.Err }

// Batch applies ops to one partition atomically. Every op is in partition
// pk by construction: Table Storage rejects batches that span partitions
// (Azurite wrongly accepts them), so the API cannot express one.
func (t *Table) Batch(ctx context.Context, pk string, ops ...Op) error {
	if len(ops) == 0 {
		return nil
	}
	if len(ops) > MaxBatch {
		return ErrBatchTooLarge
	}
	p, err := checkKey(pk)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(ops))
	actions := make([]aztables.TransactionAction, len(ops))
	for i, op := range ops {
		r, err := checkKey(op.rk)
		if err != nil {
			return err
		}
		if seen[r] {
			return fmt.Errorf("store: batch touches row %q twice, which Table Storage refuses", op.rk)
		}
		seen[r] = true
		if op.kind == aztables.TransactionTypeUpdateReplace && op.ifMatch == "" {
			// Without If-Match the service would insert a missing row: an upsert in disguise.
			return fmt.Errorf("store: ReplaceOp for row %q needs an ETag (azcore.ETagAny for unconditional)", op.rk)
		}
		var body []byte
		if op.kind == aztables.TransactionTypeDelete {
			body, err = entityJSON(p, r, struct{}{})
		} else {
			body, err = entityJSON(p, r, op.v)
		}
		if err != nil {
			return err
		}
		actions[i] = aztables.TransactionAction{ActionType: op.kind, Entity: body}
		if op.ifMatch != "" {
			m := op.ifMatch
			actions[i].IfMatch = &m
		}
	}
	return t.write(ctx, func() error {
		var raw *http.Response
		_, err := t.client.SubmitTransaction(runtime.WithCaptureResponse(ctx, &raw), actions, nil)
		if err == nil || raw == nil || raw.StatusCode != http.StatusAccepted {
			return err // not a failed operation inside the batch
		}
		return batchFailure(raw, err)
	})
}

// batchFailure reads the failed operation out of a 202 changeset response:
// aztables reports it only as an error on the outer 202.
func batchFailure(raw *http.Response, err error) error {
	body, perr := runtime.Payload(raw)
	if perr != nil {
		return err
	}
	f, ok := parseChangesetFailure(raw.Header.Get("Content-Type"), body)
	if !ok {
		return err
	}
	inner := &azcore.ResponseError{StatusCode: f.status, ErrorCode: f.code, RawResponse: raw}
	return &BatchError{Index: f.index, Err: classify(inner)}
}

// changesetFailure is the one inner response of a failed changeset.
type changesetFailure struct {
	status int
	code   string // e.g. EntityAlreadyExists
	index  int    // the failing operation, -1 if the service did not say
}

// maxBatchResponse bounds what we parse: a failed changeset holds a single
// short error response.
const maxBatchResponse = 1 << 20

// parseChangesetFailure finds the first inner response with an error status
// in a $batch response: multipart/mixed (batch) holding multipart/mixed
// (changeset) holding application/http parts. The failing operation's
// 0-based index prefixes the error message ("1:The specified entity ...").
func parseChangesetFailure(contentType string, body []byte) (changesetFailure, bool) {
	if len(body) > maxBatchResponse {
		return changesetFailure{}, false
	}
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil || params["boundary"] == "" {
		return changesetFailure{}, false
	}
	batch := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		part, err := batch.NextPart()
		if err != nil {
			return changesetFailure{}, false
		}
		mt, cparams, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil {
			continue
		}
		if mt == "multipart/mixed" && cparams["boundary"] != "" {
			if f, ok := firstFailure(multipart.NewReader(part, cparams["boundary"])); ok {
				return f, true
			}
			continue
		}
		if f, ok := failureIn(part); ok { // a response outside any changeset
			return f, true
		}
	}
}

func firstFailure(changeset *multipart.Reader) (changesetFailure, bool) {
	for {
		part, err := changeset.NextPart()
		if err != nil {
			return changesetFailure{}, false
		}
		if f, ok := failureIn(part); ok {
			return f, true
		}
	}
}

// failureIn reads one application/http part; ok when it is an error response.
func failureIn(part *multipart.Part) (changesetFailure, bool) {
	resp, err := http.ReadResponse(bufio.NewReader(part), nil)
	if err != nil || resp.StatusCode < 400 {
		return changesetFailure{}, false
	}
	defer resp.Body.Close()
	f := changesetFailure{status: resp.StatusCode, index: -1}
	var odata struct {
		Error struct {
			Code    string `json:"code"`
			Message struct {
				Value string `json:"value"`
			} `json:"message"`
		} `json:"odata.error"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, maxBatchResponse)).Decode(&odata) == nil {
		f.code = odata.Error.Code
		if n, _, ok := strings.Cut(odata.Error.Message.Value, ":"); ok {
			if i, err := strconv.Atoi(n); err == nil && i >= 0 && i < MaxBatch {
				f.index = i
			}
		}
	}
	return f, true
}

// DeleteRows deletes the rows rks of partition pk, 100 to a batch. A row
// already gone is not an error: it fails its batch, whose rows are then
// deleted one by one.
func (t *Table) DeleteRows(ctx context.Context, pk string, rks []string) error {
	for len(rks) > 0 {
		n := min(len(rks), MaxBatch)
		ops := make([]Op, 0, n)
		for _, rk := range rks[:n] {
			ops = append(ops, DeleteOp(rk, azcore.ETagAny))
		}
		err := t.Batch(ctx, pk, ops...)
		if errors.Is(err, ErrNotFound) {
			for _, rk := range rks[:n] {
				if err := t.Delete(ctx, pk, rk, azcore.ETagAny); err != nil && !errors.Is(err, ErrNotFound) {
					return err
				}
			}
		} else if err != nil {
			return err
		}
		rks = rks[n:]
	}
	return nil
}

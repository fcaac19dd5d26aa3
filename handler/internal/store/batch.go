package store

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"

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

var (
	// An inner response of a failed changeset: "HTTP/1.1 409 Conflict".
	innerStatusRE = regexp.MustCompile(`HTTP/1\.1 (\d{3})`)
	// The failing operation's index prefixes the error message: "0:The specified entity already exists."
	innerIndexRE = regexp.MustCompile(`"value"\s*:\s*"(\d+):`)
	innerCodeRE  = regexp.MustCompile(`"code"\s*:\s*"([A-Za-z]+)"`)
)

// batchFailure reads the failed operation out of a 202 changeset response:
// aztables reports it only as an error on the outer 202.
func batchFailure(raw *http.Response, err error) error {
	body, perr := runtime.Payload(raw)
	if perr != nil {
		return err
	}
	m := innerStatusRE.FindSubmatch(body)
	if m == nil {
		return err
	}
	status, _ := strconv.Atoi(string(m[1]))
	code := ""
	if c := innerCodeRE.FindSubmatch(body); c != nil {
		code = string(c[1])
	}
	idx := -1
	if ix := innerIndexRE.FindSubmatch(body); ix != nil {
		idx, _ = strconv.Atoi(string(ix[1]))
	}
	inner := &azcore.ResponseError{StatusCode: status, ErrorCode: code, RawResponse: raw}
	return &BatchError{Index: idx, Err: classify(inner)}
}

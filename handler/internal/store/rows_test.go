package store

import (
	"errors"
	"testing"
)

// GetRows reads several rows of one partition in one query, with ETags a
// conditional write accepts, and leaves out rows that do not exist.
func TestGetRows(t *testing.T) {
	ctx := t.Context()
	_, tb := newTable(t)
	rows, err := tb.GetRows(ctx, "p/1", "a", "b")
	if err != nil || len(rows) != 0 {
		t.Fatalf("a table not created yet: %v %v", rows, err)
	}
	etagA, err := tb.Insert(ctx, "p/1", "a", row{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Insert(ctx, "p/1", "c'#", row{Name: "c"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Insert(ctx, "p/2", "b", row{Name: "other partition"}); err != nil {
		t.Fatal(err)
	}
	rows, err = tb.GetRows(ctx, "p/1", "a", "b", "c'#")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("got rows %v, want a and c'# only", rows)
	}
	var a, c row
	if err := rows["a"].Decode(&a); err != nil || a.Name != "a" {
		t.Fatalf("a: %+v %v", a, err)
	}
	if err := rows["c'#"].Decode(&c); err != nil || c.Name != "c" {
		t.Fatalf("c: %+v %v", c, err)
	}
	if rows["a"].ETag != etagA {
		t.Fatalf("ETag %q, want the insert's %q", rows["a"].ETag, etagA)
	}
	if _, err := tb.Replace(ctx, "p/1", "a", row{Name: "a2"}, rows["a"].ETag); err != nil {
		t.Fatalf("replace with the query's ETag: %v", err)
	}
	if _, err := tb.Replace(ctx, "p/1", "a", row{Name: "a3"}, rows["a"].ETag); !errors.Is(err, ErrPreconditionFailed) {
		t.Fatalf("replace with a stale ETag: %v", err)
	}
}

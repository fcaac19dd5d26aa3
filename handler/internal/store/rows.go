package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// Row is one entity read by GetRows: its ETag (for a conditional write
// after) and a decoder into a struct.
type Row struct {
	ETag   azcore.ETag
	Decode func(dst any) error
}

// GetRows reads the named rows of one partition in a single query (one
// Table transaction, however many rows it names) and returns those that
// exist, by raw row key. A table that does not exist yet has no rows.
func (t *Table) GetRows(ctx context.Context, pk string, rks ...string) (map[string]Row, error) {
	p, err := checkKey(pk)
	if err != nil {
		return nil, err
	}
	if len(rks) == 0 {
		return map[string]Row{}, nil
	}
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	var ors []string
	for _, rk := range rks {
		r, err := checkKey(rk)
		if err != nil {
			return nil, err
		}
		ors = append(ors, "RowKey eq "+quote(r))
	}
	filter := "PartitionKey eq " + quote(p) + " and (" + strings.Join(ors, " or ") + ")"
	out := make(map[string]Row, len(rks))
	pager := t.client.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if isTableNotFound(err) {
			return out, nil
		}
		if err != nil {
			return nil, classify(err)
		}
		for _, raw := range page.Entities {
			var meta struct {
				RowKey string
				ETag   string `json:"odata.etag"`
			}
			if err := json.Unmarshal(raw, &meta); err != nil {
				return nil, fmt.Errorf("decode %s entity: %w", t.name, err)
			}
			rk, err := UnescapeKey(meta.RowKey)
			if err != nil {
				return nil, err
			}
			if meta.ETag == "" {
				return nil, fmt.Errorf("decode %s entity: no odata.etag in a query answer", t.name)
			}
			out[rk] = Row{ETag: azcore.ETag(meta.ETag), Decode: func(dst any) error { return json.Unmarshal(raw, dst) }}
		}
	}
	return out, nil
}

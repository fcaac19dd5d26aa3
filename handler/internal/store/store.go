// Package store keeps Switchboard's state in Azure Table Storage (Azurite
// locally) through aztables: tables created on first use, keys escaped
// transparently, ETag-conditional writes, batches that never leave one
// partition, and typed errors the services map to 404/409/412.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// Config says how to reach Table Storage.
type Config struct {
	// ConnectionString, or TableEndpoint with Credential (managed identity).
	ConnectionString string
	TableEndpoint    string
	Credential       azcore.TokenCredential
	// Prefix goes before every logical table name.
	Prefix string
	// ClientOptions tune the pipeline (a benchmark adds a counting policy);
	// nil means Switchboard's defaults.
	ClientOptions *aztables.ClientOptions
}

// DevelopmentStorage is what `UseDevelopmentStorage=true` stands for: Azurite's
// well-known account on its default table port.
const DevelopmentStorage = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
	"AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
	"TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"

// Store is a Table Storage account.
type Store struct {
	svc    *aztables.ServiceClient
	prefix string

	mu     sync.Mutex
	tables map[string]*Table
}

var tableNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{2,62}$`)

// New connects lazily: nothing goes over the network until the first call.
func New(cfg Config) (*Store, error) {
	opts := cfg.ClientOptions
	if opts == nil {
		opts = &aztables.ClientOptions{}
	}
	if opts.Retry.MaxRetries == 0 {
		opts.Retry = policy.RetryOptions{MaxRetries: 3, TryTimeout: 10 * time.Second, RetryDelay: 200 * time.Millisecond, MaxRetryDelay: 2 * time.Second}
	}
	var svc *aztables.ServiceClient
	var err error
	switch {
	case cfg.ConnectionString != "":
		cs := cfg.ConnectionString
		if strings.EqualFold(strings.TrimRight(strings.TrimSpace(cs), ";"), "UseDevelopmentStorage=true") {
			cs = DevelopmentStorage
		}
		if err := checkEndpoint(connectionStringEndpoint(cs)); err != nil {
			return nil, err
		}
		svc, err = aztables.NewServiceClientFromConnectionString(cs, opts)
		if err != nil {
			return nil, fmt.Errorf("storage connection string: %w", err)
		}
	case cfg.TableEndpoint != "":
		if cfg.Credential == nil {
			return nil, errors.New("a table endpoint needs a credential")
		}
		if err := checkEndpoint(cfg.TableEndpoint); err != nil {
			return nil, err
		}
		svc, err = aztables.NewServiceClient(strings.TrimRight(cfg.TableEndpoint, "/"), cfg.Credential, opts)
		if err != nil {
			return nil, fmt.Errorf("storage table endpoint: %w", err)
		}
	default:
		return nil, errors.New("no connection string or table endpoint")
	}
	if cfg.Prefix != "" && !tableNameRE.MatchString(cfg.Prefix+"abc") {
		return nil, fmt.Errorf("table prefix %q: letters and digits only, starting with a letter", cfg.Prefix)
	}
	return &Store{svc: svc, prefix: cfg.Prefix, tables: map[string]*Table{}}, nil
}

// connectionStringEndpoint finds the table endpoint a connection string
// names, the way aztables does.
func connectionStringEndpoint(cs string) string {
	kv := map[string]string{}
	for _, part := range strings.Split(strings.TrimRight(cs, ";"), ";") {
		if k, v, ok := strings.Cut(part, "="); ok {
			kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if ep := kv["TableEndpoint"]; ep != "" {
		return ep
	}
	proto, suffix := kv["DefaultEndpointsProtocol"], kv["EndpointSuffix"]
	if proto == "" {
		proto = "https"
	}
	if suffix == "" {
		suffix = "core.windows.net"
	}
	return proto + "://" + kv["AccountName"] + ".table." + suffix
}

// checkEndpoint allows plain http only to loopback hosts (Azurite).
func checkEndpoint(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("table endpoint %q: %w", raw, err)
	}
	if u.Scheme == "https" {
		return nil
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	if u.Scheme == "http" && (host == "localhost" || ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("table endpoint %s must use https (plain http only for a loopback Azurite)", u.Redacted())
}

// Table returns the named table (prefix added); it is created on first write.
func (s *Store) Table(name string) *Table {
	full := s.prefix + name
	if !tableNameRE.MatchString(full) {
		panic(fmt.Sprintf("store: invalid table name %q", full)) // names are constants in code
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tables[full]; ok {
		return t
	}
	t := &Table{name: full, client: s.svc.NewClient(full)}
	s.tables[full] = t
	return t
}

// Ping checks that storage answers and accepts our credential.
func (s *Store) Ping(ctx context.Context) error {
	top := int32(1)
	pager := s.svc.NewListTablesPager(&aztables.ListTablesOptions{Top: &top})
	if _, err := pager.NextPage(ctx); err != nil {
		return fmt.Errorf("table storage: %w", err)
	}
	return nil
}

// Table is one table. Keys passed in and handed out are raw (unescaped).
type Table struct {
	name   string
	client *aztables.Client

	createMu sync.Mutex
	created  bool
}

// Name is the table's full name.
func (t *Table) Name() string { return t.name }

// ensure creates the table; concurrent callers wait for one attempt, and a
// failed attempt is retried by the next caller.
func (t *Table) ensure(ctx context.Context) error {
	t.createMu.Lock()
	defer t.createMu.Unlock()
	if t.created {
		return nil
	}
	_, err := t.client.CreateTable(ctx, nil)
	var re *azcore.ResponseError
	if err != nil && !(errors.As(err, &re) && re.ErrorCode == "TableAlreadyExists") {
		return fmt.Errorf("create table %s: %w", t.name, err)
	}
	t.created = true
	return nil
}

// write runs a write, creating the table and retrying once if it does not exist yet.
func (t *Table) write(ctx context.Context, op func() error) error {
	err := op()
	if isTableNotFound(err) {
		t.createMu.Lock()
		t.created = false
		t.createMu.Unlock()
		if err := t.ensure(ctx); err != nil {
			return err
		}
		err = op()
	}
	return classify(err)
}

// entityJSON marshals v (a struct with json tags) with the keys added.
func entityJSON(pk, rk string, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("marshal entity: %w", err)
	}
	if len(body) < 2 || body[0] != '{' {
		return nil, fmt.Errorf("entity must marshal to a JSON object, not %T", v)
	}
	keys, _ := json.Marshal(struct {
		PartitionKey string
		RowKey       string
	}{pk, rk})
	if string(body) == "{}" {
		return keys, nil
	}
	out := make([]byte, 0, len(keys)+len(body))
	out = append(out, keys[:len(keys)-1]...)
	out = append(out, ',')
	return append(out, body[1:]...), nil
}

func keysOf(pk, rk string) (string, string, error) {
	p, err := checkKey(pk)
	if err != nil {
		return "", "", err
	}
	r, err := checkKey(rk)
	if err != nil {
		return "", "", err
	}
	return p, r, nil
}

// Get reads one entity into dst and returns its ETag; ErrNotFound if absent.
func (t *Table) Get(ctx context.Context, pk, rk string, dst any) (azcore.ETag, error) {
	p, r, err := keysOf(pk, rk)
	if err != nil {
		return "", err
	}
	resp, err := t.client.GetEntity(ctx, p, r, nil)
	if err != nil {
		return "", classify(err)
	}
	if err := json.Unmarshal(resp.Value, dst); err != nil {
		return "", fmt.Errorf("decode %s entity: %w", t.name, err)
	}
	return resp.ETag, nil
}

// Insert adds an entity; ErrConflict if it exists.
func (t *Table) Insert(ctx context.Context, pk, rk string, v any) (azcore.ETag, error) {
	p, r, err := keysOf(pk, rk)
	if err != nil {
		return "", err
	}
	body, err := entityJSON(p, r, v)
	if err != nil {
		return "", err
	}
	var etag azcore.ETag
	err = t.write(ctx, func() error {
		resp, err := t.client.AddEntity(ctx, body, nil)
		etag = resp.ETag
		return err
	})
	return etag, err
}

// Replace overwrites an entity if its ETag still matches ifMatch (azcore.ETagAny
// for unconditional); ErrPreconditionFailed if it changed, ErrNotFound if gone.
func (t *Table) Replace(ctx context.Context, pk, rk string, v any, ifMatch azcore.ETag) (azcore.ETag, error) {
	p, r, err := keysOf(pk, rk)
	if err != nil {
		return "", err
	}
	body, err := entityJSON(p, r, v)
	if err != nil {
		return "", err
	}
	if ifMatch == "" {
		return "", errors.New("store: Replace needs an ETag (azcore.ETagAny for unconditional)")
	}
	resp, err := t.client.UpdateEntity(ctx, body, &aztables.UpdateEntityOptions{IfMatch: &ifMatch, UpdateMode: aztables.UpdateModeReplace})
	if err != nil {
		return "", classify(err)
	}
	return resp.ETag, nil
}

// Upsert inserts or replaces an entity unconditionally.
func (t *Table) Upsert(ctx context.Context, pk, rk string, v any) (azcore.ETag, error) {
	p, r, err := keysOf(pk, rk)
	if err != nil {
		return "", err
	}
	body, err := entityJSON(p, r, v)
	if err != nil {
		return "", err
	}
	var etag azcore.ETag
	err = t.write(ctx, func() error {
		resp, err := t.client.UpsertEntity(ctx, body, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})
		etag = resp.ETag
		return err
	})
	return etag, err
}

// Delete removes an entity if its ETag matches ifMatch (azcore.ETagAny for
// unconditional); ErrNotFound if absent.
func (t *Table) Delete(ctx context.Context, pk, rk string, ifMatch azcore.ETag) error {
	p, r, err := keysOf(pk, rk)
	if err != nil {
		return err
	}
	if ifMatch == "" {
		ifMatch = azcore.ETagAny
	}
	_, err = t.client.DeleteEntity(ctx, p, r, &aztables.DeleteEntityOptions{IfMatch: &ifMatch})
	return classify(err)
}

// QueryPartition calls fn for every entity of one partition, in row key
// order; decode unmarshals the entity into a struct. A table that does not
// exist yet has no rows.
func (t *Table) QueryPartition(ctx context.Context, pk string, fn func(rk string, decode func(any) error) error) error {
	p, err := checkKey(pk)
	if err != nil {
		return err
	}
	filter := "PartitionKey eq '" + strings.ReplaceAll(p, "'", "''") + "'"
	pager := t.client.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if isTableNotFound(err) {
			return nil
		}
		if err != nil {
			return classify(err)
		}
		for _, raw := range page.Entities {
			var keys struct{ RowKey string }
			if err := json.Unmarshal(raw, &keys); err != nil {
				return fmt.Errorf("decode %s entity: %w", t.name, err)
			}
			rk, err := UnescapeKey(keys.RowKey)
			if err != nil {
				return err
			}
			decode := func(dst any) error { return json.Unmarshal(raw, dst) }
			if err := fn(rk, decode); err != nil {
				return err
			}
		}
	}
	return nil
}

// Scan calls fn for every entity of the table (all partitions, paged): for
// maintenance jobs, never for a request's hot path.
func (t *Table) Scan(ctx context.Context, fn func(pk, rk string, decode func(any) error) error) error {
	pager := t.client.NewListEntitiesPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if isTableNotFound(err) {
			return nil
		}
		if err != nil {
			return classify(err)
		}
		for _, raw := range page.Entities {
			var keys struct{ PartitionKey, RowKey string }
			if err := json.Unmarshal(raw, &keys); err != nil {
				return fmt.Errorf("decode %s entity: %w", t.name, err)
			}
			pk, err := UnescapeKey(keys.PartitionKey)
			if err != nil {
				return err
			}
			rk, err := UnescapeKey(keys.RowKey)
			if err != nil {
				return err
			}
			if err := fn(pk, rk, func(dst any) error { return json.Unmarshal(raw, dst) }); err != nil {
				return err
			}
		}
	}
	return nil
}

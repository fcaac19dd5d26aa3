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
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"switchboard/handler/internal/azhttp"
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
	opts := clientOptions(cfg.ClientOptions)
	var svc *aztables.ServiceClient
	var err error
	switch {
	case cfg.ConnectionString != "":
		cs, err := expandDevelopmentStorage(cfg.ConnectionString)
		if err != nil {
			return nil, err
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
		if !strings.HasPrefix(strings.ToLower(cfg.TableEndpoint), "https://") {
			// azcore refuses to send a bearer token over plain http, even to loopback.
			return nil, fmt.Errorf("table endpoint %q: managed identity needs https; reach Azurite with a connection string", cfg.TableEndpoint)
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

// clientOptions copies the caller's options (never modified) and fills in
// retry defaults: azcore retries 408/429/5xx with exponential back-off.
func clientOptions(in *aztables.ClientOptions) *aztables.ClientOptions {
	var opts aztables.ClientOptions
	if in != nil {
		opts = *in
	}
	if opts.Transport == nil {
		opts.Transport = azhttp.Client()
	}
	r := &opts.Retry
	if r.MaxRetries == 0 {
		r.MaxRetries = 3
	}
	if r.TryTimeout == 0 {
		r.TryTimeout = 10 * time.Second
	}
	if r.RetryDelay == 0 {
		r.RetryDelay = 200 * time.Millisecond
	}
	if r.MaxRetryDelay == 0 {
		r.MaxRetryDelay = 2 * time.Second
	}
	return &opts
}

// expandDevelopmentStorage replaces the `UseDevelopmentStorage=true` shorthand,
// which aztables does not know, with the account it stands for.
func expandDevelopmentStorage(cs string) (string, error) {
	kv := map[string]string{}
	for _, part := range strings.Split(strings.TrimRight(strings.TrimSpace(cs), ";"), ";") {
		if k, v, ok := strings.Cut(part, "="); ok {
			kv[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	v, ok := kv["usedevelopmentstorage"]
	switch {
	case !ok:
		return cs, nil
	case !strings.EqualFold(v, "true"):
		return "", fmt.Errorf("storage connection string: UseDevelopmentStorage=%s: only true is meaningful", v)
	case len(kv) > 1:
		// DevelopmentStorageProxyUri and friends: say so rather than ignore them.
		return "", errors.New("storage connection string: UseDevelopmentStorage=true takes no other settings; give Azurite's endpoint with an explicit connection string instead")
	}
	return DevelopmentStorage, nil
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
	gen      int // counts successful creations, so one TableNotFound resets once
}

// Name is the table's full name.
func (t *Table) Name() string { return t.name }

// ensure creates the table once per process before its first write;
// concurrent callers wait for one attempt, and a failed attempt is retried
// by the next caller. It returns the creation generation.
func (t *Table) ensure(ctx context.Context) (int, error) {
	t.createMu.Lock()
	defer t.createMu.Unlock()
	if t.created {
		return t.gen, nil
	}
	_, err := t.client.CreateTable(ctx, nil)
	var re *azcore.ResponseError
	if err != nil && !(errors.As(err, &re) && re.ErrorCode == string(aztables.TableAlreadyExists)) {
		return 0, fmt.Errorf("create table %s: %w", t.name, classify(err))
	}
	t.created = true
	t.gen++
	return t.gen, nil
}

// write runs a write after ensure; if the table vanished since (deleted from
// outside), it is created again and the write retried once.
func (t *Table) write(ctx context.Context, op func() error) error {
	gen, err := t.ensure(ctx)
	if err != nil {
		return err
	}
	err = op()
	if isTableNotFound(err) {
		t.createMu.Lock()
		if t.gen == gen { // the first writer to notice resets; the others reuse its creation
			t.created = false
		}
		t.createMu.Unlock()
		if _, err := t.ensure(ctx); err != nil {
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

// entityBody escapes and checks the keys and marshals v with them.
func entityBody(pk, rk string, v any) ([]byte, error) {
	p, r, err := keysOf(pk, rk)
	if err != nil {
		return nil, err
	}
	return entityJSON(p, r, v)
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
	body, err := entityBody(pk, rk, v)
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
	body, err := entityBody(pk, rk, v)
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
	body, err := entityBody(pk, rk, v)
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
	return t.list(ctx, &aztables.ListEntitiesOptions{Filter: &filter}, func(_, rk string, decode func(any) error) error {
		return fn(rk, decode)
	})
}

// Scan calls fn for every entity of the table (all partitions, paged): for
// maintenance jobs, never for a request's hot path.
func (t *Table) Scan(ctx context.Context, fn func(pk, rk string, decode func(any) error) error) error {
	return t.list(ctx, nil, fn)
}

// list pages through a query, unescaping keys.
func (t *Table) list(ctx context.Context, opts *aztables.ListEntitiesOptions, fn func(pk, rk string, decode func(any) error) error) error {
	pager := t.client.NewListEntitiesPager(opts)
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

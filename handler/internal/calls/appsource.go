package calls

import (
	"context"
	"errors"
	"sync"

	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/store"
)

// appSourcePrefix keys, in the call index, the raw ids Call Automation
// answered as the source of the calls it placed for us: the application's
// own identity, whose rings are never charged to a caller.
const appSourcePrefix = "appsource:"

// appSources caches the ids known to be the application's own.
var appSources sync.Map

// rememberAppSource records raw as the application's own identity (once).
func (s *Service) rememberAppSource(ctx context.Context, raw string) {
	if raw == "" {
		return
	}
	if _, ok := appSources.Load(s.index.Name() + "\n" + raw); ok {
		return
	}
	if _, err := s.index.Upsert(ctx, appSourcePrefix+raw, "source", indexRow{}); err != nil {
		httpapi.Logger(ctx).Warn("could not record the application's call source", "source", raw, "err", err)
		return
	}
	appSources.Store(s.index.Name()+"\n"+raw, true)
}

// KnownAppSource is IsAppSource from memory alone: true only for an id this
// instance already knows to be the application's own (no Table read).
func (s *Service) KnownAppSource(raw string) bool {
	_, ok := appSources.Load(s.index.Name() + "\n" + raw)
	return raw != "" && ok
}

// IsAppSource reports whether raw is the identity Call Automation places
// the application's calls from (learnt from CreateCall answers).
func (s *Service) IsAppSource(ctx context.Context, raw string) (bool, error) {
	if raw == "" {
		return false, nil
	}
	if _, ok := appSources.Load(s.index.Name() + "\n" + raw); ok {
		return true, nil
	}
	var r indexRow
	_, err := s.index.Get(ctx, appSourcePrefix+raw, "source", &r)
	switch {
	case err == nil:
		appSources.Store(s.index.Name()+"\n"+raw, true)
		return true, nil
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalidKey):
		return false, nil
	}
	return false, err
}

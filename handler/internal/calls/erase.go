package calls

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"golang.org/x/sync/errgroup"

	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/httpapi"
	"switchboard/handler/internal/store"
)

// UserCallsTable indexes calls by the users in them (PK user id, RK call
// id), so erasing a user finds every call that names them.
const UserCallsTable = "usercalls"

type userCall struct {
	Role string `json:"role"` // creator or invitee
}

// indexUsers records that the users are in call id, before any call row
// names them (erase then always finds them), in parallel.
func (s *Service) indexUsers(ctx context.Context, id string, creator string, invitees []string) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	if creator != "" {
		g.Go(func() error {
			_, err := s.userCalls.Upsert(gctx, creator, id, userCall{Role: "creator"})
			return err
		})
	}
	for _, u := range invitees {
		g.Go(func() error {
			_, err := s.userCalls.Upsert(gctx, u, id, userCall{Role: "invitee"})
			return err
		})
	}
	return store.ProblemFor(g.Wait())
}

// EraseUser removes an erased user from every call (an identity.Eraser): a
// call they created is ended and deleted; in others their invitation and
// roster entry go.
func (s *Service) EraseUser(ctx context.Context, userID, acsUserID string) error {
	var ids []string
	if err := s.userCalls.QueryPartition(ctx, userID, func(id string, _ func(any) error) error {
		ids = append(ids, id)
		return nil
	}); err != nil {
		return store.ProblemFor(err)
	}
	for _, id := range ids {
		c, _, invs, parts, err := s.load(ctx, id)
		var prob *httpapi.Problem
		switch {
		case errors.As(err, &prob) && prob.Status == http.StatusNotFound:
		case err != nil:
			return err
		case c.Creator == userID:
			if err := s.deleteCall(ctx, id, c, invs); err != nil {
				return err
			}
		default:
			rks := []string{invPrefix + userID}
			for raw, p := range parts {
				if p.UserID == userID || raw == acsUserID && raw != "" {
					rks = append(rks, partPrefix+raw)
				}
			}
			for _, rk := range rks {
				if err := s.calls.Delete(ctx, id, rk, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
					return store.ProblemFor(err)
				}
			}
		}
		if err := s.userCalls.Delete(ctx, userID, id, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.ProblemFor(err)
		}
	}
	return nil
}

// deleteCall ends a call at ACS and deletes every row of it: index rows
// first, the call's partition last, so a repeated erase finds what is left.
func (s *Service) deleteCall(ctx context.Context, id string, c call, invs map[string]invitee) error {
	if c.State != "ended" {
		switch {
		case c.RoomID != "":
			if err := s.acs.DeleteRoom(ctx, c.RoomID); err != nil && !acs.IsNotFound(err) {
				return acsError(err)
			}
		case c.CallConnectionID != "":
			if err := s.acs.TerminateCall(ctx, c.CallConnectionID); err != nil && !acs.IsNotFound(err) {
				return acsError(err)
			}
		case c.TeamsMeetingID != "":
			if err := s.eraseMeeting(ctx, id, c); err != nil {
				return err
			}
		}
	}
	keys := []string{"group:" + c.GroupCallID, "room:" + c.RoomID}
	var rec recordingEntity
	if _, err := s.calls.Get(ctx, id, recordingRow, &rec); err == nil && rec.RecordingID != "" {
		keys = append(keys, "rec:"+rec.RecordingID)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.ProblemFor(err)
	}
	for _, key := range keys {
		if strings.HasSuffix(key, ":") {
			continue
		}
		if err := s.index.Delete(ctx, key, "call", azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.ProblemFor(err)
		}
	}
	for uid := range invs {
		if err := s.userCalls.Delete(ctx, uid, id, azcore.ETagAny); err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrInvalidKey) {
			return store.ProblemFor(err)
		}
	}
	// Every row of the partition, the call row among them: other
	// capabilities keep rows there too (recording, ...).
	var rks []string
	if err := s.calls.QueryPartition(ctx, id, func(rk string, _ func(any) error) error {
		rks = append(rks, rk)
		return nil
	}); err != nil {
		return store.ProblemFor(err)
	}
	if err := s.calls.DeleteRows(ctx, id, rks); err != nil {
		return store.ProblemFor(err)
	}
	return nil
}

package fanout

import (
	"context"

	"switchboard/handler/internal/quota"
)

// Callers names whose ring an incoming call is: key is the caller's
// lasting identity (the app user's id for an ACS user, the number for a
// phone, the raw id of an ACS identity no user has), app is true for the
// application's own Call Automation identity (its calls were paid for at
// the route that placed them: calls, invites, dials).
type Callers func(ctx context.Context, caller string) (key string, app bool, err error)

// unknownCaller is the bucket of callers with no identifiable id: one per
// callee, so an empty raw id never bypasses the quota.
const unknownCaller = "unknown"

// RingSubject is the quota.Rings subject of one ring of callee by caller
// (a raw id, maybe empty), and whether to spend at all (not for the app's
// own calls). Without callers the caller's raw id is the key.
func RingSubject(ctx context.Context, callers Callers, caller, callee string) (quota.Subject, bool, error) {
	key := caller
	switch {
	case caller == "":
		key = unknownCaller
	case callers != nil:
		k, app, err := callers(ctx, caller)
		if err != nil {
			return quota.Subject{}, false, err
		}
		if app {
			return quota.Subject{}, false, nil
		}
		if k != "" {
			key = k
		}
	}
	return quota.Other("ring:" + key + ":" + callee), true, nil
}

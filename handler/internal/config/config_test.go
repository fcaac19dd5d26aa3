package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func base() map[string]string {
	return map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT": "7071",
		"STORAGE_CONNECTION_STRING":    "UseDevelopmentStorage=true",
		"ACS_CONNECTION_STRING":        "endpoint=http://127.0.0.1:9000/;accesskey=c3dpdGNoYm9hcmQ=",
		"AUTH_ISSUER":                  "http://127.0.0.1:9001",
		"AUTH_AUDIENCE":                "api://switchboard",
	}
}

func load(env map[string]string) (*Config, error) {
	return Load(func(k string) string { return env[k] })
}

func TestLoadDefaults(t *testing.T) {
	c, err := load(base())
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 7071 || c.AuthUserClaim != "sub" || c.AuthServiceRole != "Switchboard.Service" || c.AuthEasyAuth {
		t.Errorf("defaults: %+v", c)
	}
	if strings.Join(c.TokenScopes, ",") != "voip" || strings.Join(c.TokenDefaultScopes, ",") != "voip" {
		t.Errorf("scopes: %v %v", c.TokenScopes, c.TokenDefaultScopes)
	}
	if c.ACSCallbackOIDCConfig != DefaultCallbackOIDCConfig || c.DeviceTTL != 60*24*time.Hour || c.MaxDevices != 20 {
		t.Errorf("defaults: %+v", c)
	}
	if !c.ChatPushPreview {
		t.Error("CHAT_PUSH_PREVIEW defaults to true")
	}
	if c.ACSCallAutomationAPIVersion != "2026-03-12" || c.BotCallLogRetention != 30*24*time.Hour {
		t.Errorf("bot defaults: api-version %q, call log retention %v", c.ACSCallAutomationAPIVersion, c.BotCallLogRetention)
	}
	if c.PushAllowLoopbackTargets || c.WebPushAllowedHosts.String() != DefaultWebPushAllowedHosts {
		t.Errorf("egress defaults: loopback %v, hosts %q", c.PushAllowLoopbackTargets, c.WebPushAllowedHosts)
	}
	for _, h := range []string{"fcm.googleapis.com", "updates.push.services.mozilla.com", "wns2-db5p.notify.windows.com", "web.push.apple.com"} {
		if !c.WebPushAllowedHosts.Allows(h) {
			t.Errorf("the default WEBPUSH_ALLOWED_HOSTS refuses %s", h)
		}
	}
}

func TestLoadEgressSettings(t *testing.T) {
	env := base()
	env["WEBPUSH_ALLOWED_HOSTS"] = "push.example.com, *.push.example.net,127.0.0.1"
	env["PUSH_ALLOW_LOOPBACK_TARGETS"] = "true"
	env["CHAT_PUSH_PREVIEW"] = "false"
	c, err := load(env)
	if err != nil {
		t.Fatal(err)
	}
	if c.ChatPushPreview {
		t.Error("CHAT_PUSH_PREVIEW=false read as true")
	}
	if !c.PushAllowLoopbackTargets || !c.WebPushAllowedHosts.Allows("a.push.example.net") || !c.WebPushAllowedHosts.Allows("127.0.0.1") || c.WebPushAllowedHosts.Allows("fcm.googleapis.com") {
		t.Errorf("loopback %v, hosts %q", c.PushAllowLoopbackTargets, c.WebPushAllowedHosts)
	}
}

func TestLoadRejects(t *testing.T) {
	cases := []struct {
		name    string
		set     map[string]string
		setting string
	}{
		{"missing port", map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": ""}, "FUNCTIONS_CUSTOMHANDLER_PORT"},
		{"bad port", map[string]string{"FUNCTIONS_CUSTOMHANDLER_PORT": "70000"}, "FUNCTIONS_CUSTOMHANDLER_PORT"},
		{"no storage", map[string]string{"STORAGE_CONNECTION_STRING": ""}, "STORAGE_CONNECTION_STRING"},
		{"both storage", map[string]string{"STORAGE_TABLE_ENDPOINT": "https://a.table.core.windows.net"}, "STORAGE_CONNECTION_STRING"},
		{"http storage endpoint", map[string]string{"STORAGE_CONNECTION_STRING": "", "STORAGE_TABLE_ENDPOINT": "http://a.table.core.windows.net"}, "STORAGE_TABLE_ENDPOINT"},
		{"bad prefix", map[string]string{"TABLE_PREFIX": "1abc"}, "TABLE_PREFIX"},
		{"chat preview not a bool", map[string]string{"CHAT_PUSH_PREVIEW": "maybe"}, "CHAT_PUSH_PREVIEW"},
		{"no acs", map[string]string{"ACS_CONNECTION_STRING": ""}, "ACS_CONNECTION_STRING"},
		{"garbled acs", map[string]string{"ACS_CONNECTION_STRING": "hello"}, "ACS_CONNECTION_STRING"},
		{"acs key not base64", map[string]string{"ACS_CONNECTION_STRING": "endpoint=https://x.communication.azure.com/;accesskey=***"}, "ACS_CONNECTION_STRING"},
		{"acs http remote", map[string]string{"ACS_CONNECTION_STRING": "endpoint=http://x.communication.azure.com/;accesskey=c3dpdGNoYm9hcmQ="}, "ACS_CONNECTION_STRING"},
		{"no issuer", map[string]string{"AUTH_ISSUER": ""}, "AUTH_ISSUER"},
		{"issuer not url", map[string]string{"AUTH_ISSUER": "login.example.com"}, "AUTH_ISSUER"},
		{"no audience", map[string]string{"AUTH_AUDIENCE": ""}, "AUTH_AUDIENCE"},
		{"easyauth not bool", map[string]string{"AUTH_EASYAUTH": "yes please"}, "AUTH_EASYAUTH"},
		{"unknown scope", map[string]string{"TOKEN_SCOPES": "voip,video"}, "TOKEN_SCOPES"},
		{"default outside allowed", map[string]string{"TOKEN_SCOPES": "voip", "TOKEN_DEFAULT_SCOPES": "chat"}, "TOKEN_DEFAULT_SCOPES"},
		{"hub without name", map[string]string{"NOTIFICATION_HUB_CONNECTION_STRING": "Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=b"}, "NOTIFICATION_HUB_NAME"},
		{"vapid half", map[string]string{"WEBPUSH_VAPID_PUBLIC_KEY": "abc"}, "WEBPUSH_VAPID_PRIVATE_KEY"},
		{"pstn not e164", map[string]string{"ACS_PSTN_CALLER_ID": "4255550100"}, "ACS_PSTN_CALLER_ID"},
		{"ttl zero", map[string]string{"DEVICE_TTL_DAYS": "0"}, "DEVICE_TTL_DAYS"},
		{"preview call automation", map[string]string{"ACS_CALL_AUTOMATION_API_VERSION": "2024-09-01-preview"}, "ACS_CALL_AUTOMATION_API_VERSION"},
		{"bot call log kept no day", map[string]string{"BOT_CALL_LOG_RETENTION_DAYS": "0"}, "BOT_CALL_LOG_RETENTION_DAYS"},
		{"topic key without endpoint", map[string]string{"EVENTGRID_TOPIC_KEY": "k"}, "EVENTGRID_TOPIC_ENDPOINT"},
		{"log level", map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{"push host url", map[string]string{"WEBPUSH_ALLOWED_HOSTS": "https://fcm.googleapis.com/"}, "WEBPUSH_ALLOWED_HOSTS"},
		{"push host wildcard only", map[string]string{"WEBPUSH_ALLOWED_HOSTS": "fcm.googleapis.com,*"}, "WEBPUSH_ALLOWED_HOSTS"},
		{"loopback not bool", map[string]string{"PUSH_ALLOW_LOOPBACK_TARGETS": "dev"}, "PUSH_ALLOW_LOOPBACK_TARGETS"},
		{"prefix without plus", map[string]string{"PSTN_ALLOWED_PREFIXES": "+44,1425"}, "PSTN_ALLOWED_PREFIXES"},
		{"prefix with a space", map[string]string{"PSTN_ALLOWED_PREFIXES": "+1 425"}, "PSTN_ALLOWED_PREFIXES"},
		{"prefix too long", map[string]string{"PSTN_BLOCKED_PREFIXES": "+1234567890123456"}, "PSTN_BLOCKED_PREFIXES"},
		{"quota zero", map[string]string{"QUOTA_TOKENS_PER_MINUTE": "0"}, "QUOTA_TOKENS_PER_MINUTE"},
		{"quota not a number", map[string]string{"QUOTA_DIALS_PER_DAY": "lots"}, "QUOTA_DIALS_PER_DAY"},
		{"service quota too large", map[string]string{"QUOTA_SERVICE_CALLS_PER_HOUR": "1000001"}, "QUOTA_SERVICE_CALLS_PER_HOUR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := base()
			for k, v := range tc.set {
				env[k] = v
			}
			_, err := load(env)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("want *Error, got %v", err)
			}
			if ce.Setting != tc.setting {
				t.Errorf("setting = %s, want %s (%v)", ce.Setting, tc.setting, err)
			}
			if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), tc.setting) {
				t.Errorf("error must be one line naming the setting: %q", err)
			}
		})
	}
}

func TestLoadSpendSettings(t *testing.T) {
	c, err := load(base())
	if err != nil {
		t.Fatal(err)
	}
	if c.AuthPSTNRole != "Switchboard.Dial" || len(c.PSTNAllowedPrefixes) != 0 ||
		strings.Join(c.PSTNBlockedPrefixes, ",") != DefaultPSTNBlockedPrefixes {
		t.Errorf("PSTN defaults: %q %v %v", c.AuthPSTNRole, c.PSTNAllowedPrefixes, c.PSTNBlockedPrefixes)
	}
	wantUser := Quotas{TokensPerMinute: 20, CallsPerHour: 30, InvitesPerHour: 100, DialsPerDay: 20, DeviceRegistrationsPerDay: 50, RelayPerHour: 60, SMSPerDay: 20,
		SpacesPerHour: 20, SpaceInvitesPerHour: 200, CallAutomationPerHour: 30, RevocationsPerHour: 20, TeamsMeetingsPerDay: 20}
	if c.QuotaUser != wantUser {
		t.Errorf("user quotas %+v, want %+v", c.QuotaUser, wantUser)
	}
	if c.QuotaAppTeamsMeetingsPerDay != 60 {
		t.Errorf("app Teams meetings default %d, want 60", c.QuotaAppTeamsMeetingsPerDay)
	}
	if c.QuotaChatPushesPerHour != 600 || c.QuotaGuestRepliesPerHour != 30 || c.QuotaRingsPerHour != 100 || c.QuotaBotRingsPerHour != 1000 {
		t.Errorf("event quota defaults: chat %d, guest replies %d, calls %d, bot calls %d", c.QuotaChatPushesPerHour, c.QuotaGuestRepliesPerHour, c.QuotaRingsPerHour, c.QuotaBotRingsPerHour)
	}
	s := c.QuotaService
	for name, pair := range map[string][2]int{
		"tokens": {s.TokensPerMinute, wantUser.TokensPerMinute}, "calls": {s.CallsPerHour, wantUser.CallsPerHour},
		"invites": {s.InvitesPerHour, wantUser.InvitesPerHour}, "dials": {s.DialsPerDay, wantUser.DialsPerDay},
		"devices": {s.DeviceRegistrationsPerDay, wantUser.DeviceRegistrationsPerDay}, "relay": {s.RelayPerHour, wantUser.RelayPerHour},
		"sms": {s.SMSPerDay, wantUser.SMSPerDay}, "spaces": {s.SpacesPerHour, wantUser.SpacesPerHour},
		"space invites": {s.SpaceInvitesPerHour, wantUser.SpaceInvitesPerHour}, "call automation": {s.CallAutomationPerHour, wantUser.CallAutomationPerHour},
		"revocations": {s.RevocationsPerHour, wantUser.RevocationsPerHour}, "teams meetings": {s.TeamsMeetingsPerDay, wantUser.TeamsMeetingsPerDay},
	} {
		if pair[0] <= pair[1] {
			t.Errorf("service %s quota %d is not above the user's %d", name, pair[0], pair[1])
		}
	}

	env := base()
	env["PSTN_ALLOWED_PREFIXES"] = " +44, +1425 ,+44"
	env["PSTN_BLOCKED_PREFIXES"] = "+4490"
	env["AUTH_PSTN_ROLE"] = "Dialler"
	env["QUOTA_TOKENS_PER_MINUTE"] = "5"
	env["QUOTA_SERVICE_DEVICE_REGISTRATIONS_PER_DAY"] = "7"
	env["QUOTA_SPACE_INVITES_PER_HOUR"] = "9"
	env["QUOTA_SERVICE_REVOCATIONS_PER_HOUR"] = "11"
	env["QUOTA_CHAT_PUSHES_PER_HOUR"] = "13"
	env["QUOTA_GUEST_REPLIES_PER_HOUR"] = "3"
	env["QUOTA_RINGS_PER_HOUR"] = "17"
	env["QUOTA_BOT_RINGS_PER_HOUR"] = "23"
	env["QUOTA_APP_TEAMS_MEETINGS_PER_DAY"] = "29"
	env["QUOTA_SERVICE_TEAMS_MEETINGS_PER_DAY"] = "19"
	if c, err = load(env); err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.PSTNAllowedPrefixes, ",") != "+44,+1425" || strings.Join(c.PSTNBlockedPrefixes, ",") != "+4490" || c.AuthPSTNRole != "Dialler" {
		t.Errorf("PSTN settings: %v %v %q", c.PSTNAllowedPrefixes, c.PSTNBlockedPrefixes, c.AuthPSTNRole)
	}
	if c.QuotaUser.TokensPerMinute != 5 || c.QuotaService.DeviceRegistrationsPerDay != 7 || c.QuotaUser.CallsPerHour != 30 ||
		c.QuotaUser.SpaceInvitesPerHour != 9 || c.QuotaService.RevocationsPerHour != 11 || c.QuotaService.SpaceInvitesPerHour != 2000 ||
		c.QuotaService.TeamsMeetingsPerDay != 19 || c.QuotaUser.TeamsMeetingsPerDay != 20 {
		t.Errorf("quota settings: %+v %+v", c.QuotaUser, c.QuotaService)
	}
	if c.QuotaAppTeamsMeetingsPerDay != 29 {
		t.Errorf("app Teams meetings %d, want 29", c.QuotaAppTeamsMeetingsPerDay)
	}
	if c.QuotaChatPushesPerHour != 13 || c.QuotaGuestRepliesPerHour != 3 || c.QuotaRingsPerHour != 17 || c.QuotaBotRingsPerHour != 23 {
		t.Errorf("event quotas: chat %d, guest replies %d, calls %d, bot calls %d", c.QuotaChatPushesPerHour, c.QuotaGuestRepliesPerHour, c.QuotaRingsPerHour, c.QuotaBotRingsPerHour)
	}
}

func TestCheckUpstreamURL(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://example.com", true},
		{"http://127.0.0.1:10002/devstoreaccount1", true},
		{"http://localhost:8080", true},
		{"http://[::1]:8080", true},
		{"http://example.com", false},
		{"ftp://example.com", false},
		{"/relative", false},
		{"http://127.0.0.1.evil.com", false},
	} {
		if err := CheckUpstreamURL(tc.url); (err == nil) != tc.ok {
			t.Errorf("CheckUpstreamURL(%q) = %v, want ok=%v", tc.url, err, tc.ok)
		}
	}
}

func TestSettingsListsEveryVariableRead(t *testing.T) {
	read := map[string]bool{}
	env := base()
	_, err := Load(func(k string) string { read[k] = true; return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, s := range Settings {
		listed[s] = true
		if !read[s] {
			t.Errorf("Settings lists %s, which Load does not read", s)
		}
	}
	for s := range read {
		if !listed[s] {
			t.Errorf("Load reads %s, which Settings does not list", s)
		}
	}
}

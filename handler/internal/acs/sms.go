package acs

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// SMSAPIVersion is the newest GA SMS api-version (2026-01-23). The GA JS SDK
// (@azure/communication-sms 1.1.0) still sends SMSAPIVersionJS; both have
// the send shapes this client uses.
const (
	SMSAPIVersion   = "2026-01-23"
	SMSAPIVersionJS = "2021-03-07"
)

// MaxSMSRecipients and MaxSMSMessage are ACS's limits per send request.
const (
	MaxSMSRecipients = 100
	MaxSMSMessage    = 2048
)

// SMS event types ACS publishes through Event Grid.
const (
	EventSMSReceived               = "Microsoft.Communication.SMSReceived"
	EventSMSDeliveryReportReceived = "Microsoft.Communication.SMSDeliveryReportReceived"
)

// SMSClient sends texts from one ACS resource. It shares its Client's pipeline.
type SMSClient struct {
	c          *Client
	apiVersion string
}

// SMS returns the resource's SMS client speaking apiVersion ("" means SMSAPIVersion).
func (c *Client) SMS(apiVersion string) *SMSClient {
	if apiVersion == "" {
		apiVersion = SMSAPIVersion
	}
	return &SMSClient{c: c, apiVersion: apiVersion}
}

// SMSRecipient is one addressee. RepeatabilityRequestID (a UUID) and
// RepeatabilityFirstSent make a resend of the same text one message: derive
// them from what the text is for, not per attempt.
type SMSRecipient struct {
	To                     string
	RepeatabilityRequestID string
	RepeatabilityFirstSent time.Time
}

// SendSMSOptions is one send request.
type SendSMSOptions struct {
	From                 string
	Recipients           []SMSRecipient
	Message              string
	EnableDeliveryReport bool
	// Tag is echoed in delivery reports.
	Tag string
}

// SMSResult is ACS's answer for one recipient: a 202 holds a result per
// recipient, each with its own status.
type SMSResult struct {
	To             string `json:"to"`
	MessageID      string `json:"messageId,omitempty"`
	HTTPStatusCode int    `json:"httpStatusCode"`
	// RepeatabilityResult is accepted or rejected, when the request was repeatable.
	RepeatabilityResult string `json:"repeatabilityResult,omitempty"`
	Successful          bool   `json:"successful"`
	ErrorMessage        string `json:"errorMessage,omitempty"`
}

type wireSMSRecipient struct {
	To                     string `json:"to"`
	RepeatabilityRequestID string `json:"repeatabilityRequestId,omitempty"`
	RepeatabilityFirstSent string `json:"repeatabilityFirstSent,omitempty"`
}

type wireSMSOptions struct {
	EnableDeliveryReport bool   `json:"enableDeliveryReport"`
	Tag                  string `json:"tag,omitempty"`
}

type wireSMSRequest struct {
	From          string             `json:"from"`
	SMSRecipients []wireSMSRecipient `json:"smsRecipients"`
	Message       string             `json:"message"`
	Options       wireSMSOptions     `json:"smsSendOptions"`
}

// Send texts opts.Message to every recipient: POST /sms. The error is a
// failure of the whole request (*azcore.ResponseError for 401, 429 ...);
// per-recipient failures are in the results.
func (s *SMSClient) Send(ctx context.Context, opts SendSMSOptions) ([]SMSResult, error) {
	if opts.From == "" {
		return nil, fmt.Errorf("acs: sms needs a from number")
	}
	if n := len(opts.Recipients); n < 1 || n > MaxSMSRecipients {
		return nil, fmt.Errorf("acs: sms needs 1 to %d recipients, not %d", MaxSMSRecipients, n)
	}
	if len(opts.Message) > MaxSMSMessage {
		return nil, fmt.Errorf("acs: sms message is %d bytes, over %d", len(opts.Message), MaxSMSMessage)
	}
	body := wireSMSRequest{From: opts.From, Message: opts.Message, Options: wireSMSOptions{EnableDeliveryReport: opts.EnableDeliveryReport, Tag: opts.Tag}}
	for _, r := range opts.Recipients {
		w := wireSMSRecipient{To: r.To, RepeatabilityRequestID: r.RepeatabilityRequestID}
		if !r.RepeatabilityFirstSent.IsZero() {
			w.RepeatabilityFirstSent = r.RepeatabilityFirstSent.UTC().Format(http.TimeFormat)
		}
		body.SMSRecipients = append(body.SMSRecipients, w)
	}
	var out struct {
		Value []SMSResult `json:"value"`
	}
	if err := s.c.do(ctx, http.MethodPost, "/sms", s.apiVersion, body, http.StatusAccepted, &out); err != nil {
		return nil, err
	}
	if len(out.Value) != len(opts.Recipients) {
		return nil, fmt.Errorf("acs: sms answered %d results for %d recipients", len(out.Value), len(opts.Recipients))
	}
	return out.Value, nil
}

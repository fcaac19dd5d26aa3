package store

import (
	"strings"
	"testing"
)

// azureFailedChangeset is the shape Table Storage documents for a changeset
// whose second operation failed (Performing entity group transactions).
const azureFailedChangeset = "--batchresponse_7ab1c2dd\r\n" +
	"Content-Type: multipart/mixed; boundary=changesetresponse_c5d7e2f1\r\n" +
	"\r\n" +
	"--changesetresponse_c5d7e2f1\r\n" +
	"Content-Type: application/http\r\n" +
	"Content-Transfer-Encoding: binary\r\n" +
	"\r\n" +
	"HTTP/1.1 409 Conflict\r\n" +
	"Content-ID: 2\r\n" +
	"X-Content-Type-Options: nosniff\r\n" +
	"Cache-Control: no-cache\r\n" +
	"DataServiceVersion: 3.0;\r\n" +
	"Content-Type: application/json;odata=minimalmetadata;streaming=true;charset=utf-8\r\n" +
	"\r\n" +
	`{"odata.error":{"code":"EntityAlreadyExists","message":{"lang":"en-US","value":"1:The specified entity already exists.\nRequestId:5d3b5b7e-0002-0011-1f5c-1a7d3a000000\nTime:2026-11-25T07:00:00.0000000Z"}}}` + "\r\n" +
	"--changesetresponse_c5d7e2f1--\r\n" +
	"--batchresponse_7ab1c2dd--\r\n"

const azureBatchContentType = "multipart/mixed; boundary=batchresponse_7ab1c2dd"

func TestParseChangesetFailure(t *testing.T) {
	okChangeset := strings.NewReplacer("HTTP/1.1 409 Conflict", "HTTP/1.1 204 No Content", `{"odata.error"`, `{"x"`).Replace(azureFailedChangeset)
	tests := []struct {
		name        string
		contentType string
		body        string
		want        changesetFailure
		ok          bool
	}{
		{"azure conflict", azureBatchContentType, azureFailedChangeset, changesetFailure{409, "EntityAlreadyExists", 1}, true},
		{"precondition, no index", azureBatchContentType, strings.NewReplacer("409 Conflict", "412 Precondition Failed", "EntityAlreadyExists", "UpdateConditionNotSatisfied", `"1:The`, `"The`).Replace(azureFailedChangeset), changesetFailure{412, "UpdateConditionNotSatisfied", -1}, true},
		{"index out of range", azureBatchContentType, strings.Replace(azureFailedChangeset, `"1:The`, `"100:The`, 1), changesetFailure{409, "EntityAlreadyExists", -1}, true},
		{"body not json", azureBatchContentType, strings.Replace(azureFailedChangeset, `{"odata.error"`, `<error`, 1), changesetFailure{409, "", -1}, true},
		{"all succeeded", azureBatchContentType, okChangeset, changesetFailure{}, false},
		{"no boundary", "multipart/mixed", azureFailedChangeset, changesetFailure{}, false},
		{"wrong boundary", "multipart/mixed; boundary=other", azureFailedChangeset, changesetFailure{}, false},
		{"json error body", "application/json", `{"odata.error":{"code":"InvalidInput"}}`, changesetFailure{}, false},
		{"empty", azureBatchContentType, "", changesetFailure{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseChangesetFailure(tt.contentType, []byte(tt.body))
			if ok != tt.ok || got != tt.want {
				t.Fatalf("got %+v %v, want %+v %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzParseChangesetFailure(f *testing.F) {
	f.Add(azureBatchContentType, []byte(azureFailedChangeset))
	f.Add("multipart/mixed; boundary=b", []byte("--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 404 Not Found\r\n\r\n{}\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		got, ok := parseChangesetFailure(contentType, body)
		if ok && (got.status < 400 || got.index < -1 || got.index >= MaxBatch) {
			t.Fatalf("implausible failure %+v", got)
		}
	})
}

package graph

import (
	"errors"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// CredentialConfig says how Switchboard gets its app-only Graph token.
type CredentialConfig struct {
	TenantID string // GRAPH_TENANT_ID
	ClientID string // GRAPH_CLIENT_ID: the app registration, or a user-assigned managed identity
	// ClientSecret (GRAPH_CLIENT_SECRET) selects client credentials; without
	// it the managed identity (user-assigned when ClientID is set) is used.
	ClientSecret  string
	AuthorityHost string // GRAPH_AUTHORITY_HOST; empty means DefaultAuthorityHost
	// Transport sends the token requests; nil means azcore's default.
	Transport policy.Transporter
}

// NewCredential builds the azidentity credential cfg describes.
func NewCredential(cfg CredentialConfig) (azcore.TokenCredential, error) {
	host := cfg.AuthorityHost
	if host == "" {
		host = DefaultAuthorityHost
	}
	if !strings.HasSuffix(host, "/") {
		host += "/"
	}
	co := azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: host}, Transport: cfg.Transport}
	if cfg.ClientSecret == "" {
		opts := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: co}
		if cfg.ClientID != "" {
			opts.ID = azidentity.ClientID(cfg.ClientID)
		}
		return azidentity.NewManagedIdentityCredential(opts)
	}
	if cfg.TenantID == "" || cfg.ClientID == "" {
		return nil, errors.New("graph: a client secret needs a tenant id and a client id")
	}
	return azidentity.NewClientSecretCredential(cfg.TenantID, cfg.ClientID, cfg.ClientSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: co,
		// MSAL asks login.microsoftonline.com for instance metadata, which a
		// sovereign cloud's or a local authority cannot answer.
		DisableInstanceDiscovery: !strings.EqualFold(host, DefaultAuthorityHost),
	})
}

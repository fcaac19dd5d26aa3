// Switchboard on Azure: a Linux Function App on the Flex Consumption plan
// running the custom handler, with a user-assigned managed identity that
// reaches Table Storage and ACS without keys; an Event Grid system topic on
// the ACS resource; Notification Hubs; Application Insights.
// Deploy with `azd up` (see docs/deploy.md).
targetScope = 'resourceGroup'

@description('Base name for every resource: letters, digits and hyphens (the azd environment name).')
@minLength(3)
@maxLength(16)
param name string

@description('Azure region.')
param location string = resourceGroup().location

@description('The app\'s OpenID Connect issuer (e.g. https://login.microsoftonline.com/<tenant>/v2.0).')
param authIssuer string

@description('The audience (aud) of the access tokens callers present: for Entra ID v2 tokens, the API app registration\'s application (client) id.')
param authAudience string

@description('The claim that names the app\'s user (oid for Entra ID).')
param authUserClaim string = 'sub'

@description('Trust App Service Authentication\'s principal header (only if you enable it).')
param authEasyAuth bool = false

@description('App role that marks back-end service callers.')
param authServiceRole string = 'Switchboard.Service'

@description('ACS token scopes a caller may ask for, and those issued by default.')
param tokenScopes string = 'voip'
param tokenDefaultScopes string = 'voip'

@description('APNs VoIP topic: <bundle id>.voip (empty: no APNs VoIP pushes).')
param apnsVoipTopic string = ''

@description('Web Push VAPID keys (base64url) and subject; empty disables Web Push.')
param webPushVapidPublicKey string = ''
@secure()
param webPushVapidPrivateKey string = ''
param webPushSubject string = ''

@description('Push services a Web Push endpoint may be on: comma-separated host names or *.<domain> (empty: the browsers\' push services, see README).')
param webPushAllowedHosts string = ''

@description('Device registrations expire after this many days unless refreshed.')
param deviceTtlDays int = 60
param maxDevicesPerUser int = 20

@description('Most contacts and outstanding contact requests one user may have.')
param maxContactsPerUser int = 1000

@description('E.164 caller id for dial-outs to phones (empty: no PSTN dial-out).')
param acsPstnCallerId string = ''

@description('https endpoint of the Azure AI services resource connected to ACS: bots\' text-to-speech (empty: file prompts only).')
param acsCognitiveServicesEndpoint string = ''

@description('Call Automation api-version the handler speaks; bots\' "connect" menu actions need 2026-03-12.')
@allowed([
  '2026-03-12'
  '2025-06-15'
])
param acsCallAutomationApiVersion string = '2026-03-12'

@description('Days a bot\'s call log keeps a call.')
param botCallLogRetentionDays int = 30

@description('App role an end user needs to dial phone numbers (service callers may always).')
param authPstnRole string = 'Switchboard.Dial'

@description('E.164 prefixes that may be dialled, comma-separated (empty: no dialling at all).')
param pstnAllowedPrefixes string = ''

@description('E.164 prefixes never dialled: a starting point, not a complete premium-rate list.')
param pstnBlockedPrefixes string = '+1900,+1976,+881,+882,+883'

@description('Per-user quotas: tokens per minute, calls and invitations per hour, dials and device registrations per day.')
param quotaTokensPerMinute int = 20
param quotaCallsPerHour int = 30
param quotaInvitesPerHour int = 100
param quotaDialsPerDay int = 20
param quotaDeviceRegistrationsPerDay int = 50

@description('The same quotas for a service caller acting for a user (X-On-Behalf-Of).')
param quotaServiceTokensPerMinute int = 200
param quotaServiceCallsPerHour int = 300
param quotaServiceInvitesPerHour int = 1000
param quotaServiceDialsPerDay int = 200
param quotaServiceDeviceRegistrationsPerDay int = 500

@description('Per-user quotas per hour: spaces created, space invitations sent, Call Automation work started (recordings, bots joined), token revocations.')
param quotaSpacesPerHour int = 20
param quotaSpaceInvitesPerHour int = 200
param quotaCallAutomationPerHour int = 30
param quotaRevocationsPerHour int = 20
@description('Teams meetings one user may create per day (Graph allows 2000 per organizer per month, for the whole app).')
param quotaTeamsMeetingsPerDay int = 20
@description('Teams meetings the whole app may create per day, whoever asks (Graph allows 2000 per organizer per month).')
param quotaAppTeamsMeetingsPerDay int = 60

@description('The same quotas for a service caller acting for a user (X-On-Behalf-Of).')
param quotaServiceSpacesPerHour int = 200
param quotaServiceSpaceInvitesPerHour int = 2000
param quotaServiceCallAutomationPerHour int = 300
param quotaServiceRevocationsPerHour int = 200
param quotaServiceTeamsMeetingsPerDay int = 200

@description('Pushes events cause, per hour: chat messages whose pushes one sender may cause, texts from one SMS guest of one call pushed to its creator, and incoming calls from one caller to one callee (pushed to a user or answered by a bot).')
param quotaChatPushesPerHour int = 600
param quotaGuestRepliesPerHour int = 30
param quotaRingsPerHour int = 100
@description('Calls one bot answers per hour, whoever calls (caller numbers can be spoofed).')
param quotaBotRingsPerHour int = 1000

@description('OpenID configuration for ACS callback JWTs (empty: ACS\'s own).')
param acsCallbackOidcConfig string = ''

@description('Optional Event Grid topic to publish Switchboard\'s own events to.')
param eventGridTopicEndpoint string = ''
@secure()
param eventGridTopicKey string = ''

@description('Key for POST /api/events, the direct Event Grid webhook (unused behind the Functions host).')
@secure()
param eventsWebhookKey string = ''

@description('AES-256 key (32 bytes, base64) sealing the shared ACS token cache; empty: no cache, one ACS issuance per token request. Generate once (`openssl rand -base64 32`) and keep it in the azd environment, or give a Key Vault reference; see docs/deploy.md.')
@secure()
param tokenCacheKey string = ''
@description('During a rotation only: the old token cache key, which still opens rows sealed before it (never seals).')
@secure()
param tokenCacheKeyPrevious string = ''

@description('TURN servers for POST /api/relay: comma-separated turn:, turns: and stun: URLs (empty: the route answers 501). Azure has no managed TURN; see docs/deploy.md.')
param turnUrls string = ''
@description('TURN REST API shared secret, the static-auth-secret of your TURN servers (or a Key Vault reference).')
@secure()
param turnSharedSecret string = ''
@description('During a rotation only: the old TURN secret, which the TURN servers still accept (Switchboard never signs with it).')
@secure()
param turnSharedSecretPrevious string = ''
@description('Key for the opaque per-user part of TURN usernames; keeps it stable across secret rotations and unknown to the TURN operator.')
@secure()
param turnUserKey string = ''
@description('Default and longest lifetime of relay credentials, in minutes (1 to 1440).')
@minValue(1)
@maxValue(1440)
param turnTtlMinutes int = 60
@description('SMS guests: the number, short code or alphanumeric sender ID the ACS resource texts from (empty: POST /api/calls/{id}/guests answers 501). Buy it on the ACS resource first.')
param acsSmsFrom string = ''
@description('SMS guests: the invitation text; must hold {link}, may hold {inviter} and {name}.')
param smsGuestTemplate string = '{inviter} invited you to a call: {link}'
@description('SMS guests: the app page a guest opens, with {code} where the join code goes, e.g. https://app.example.com/join?code={code}.')
param guestJoinUrl string = ''
@description('SMS guests: E.164 prefixes that may be texted, comma-separated (empty: no texts).')
param smsAllowedPrefixes string = ''
@description('SMS guests: prefixes never texted, even when allowed.')
param smsBlockedPrefixes string = '+1900,+1976,+881,+882,+883'
@minValue(1)
@maxValue(50)
param maxGuestsPerCall int = 10
@description('Texts one user may send per day.')
param quotaSmsPerDay int = 20
param quotaServiceSmsPerDay int = 200
@description('Relay credentials one user may get per hour.')
param quotaRelayPerHour int = 60
param quotaServiceRelayPerHour int = 600

@description('Teams meetings (POST /api/calls kind teams): the Entra object id of the licensed Teams user who organizes every meeting (empty: Teams meetings off). See docs/deploy.md, "Teams meetings".')
param teamsOrganizerId string = ''

@description('Who bypasses the lobby of the meetings Switchboard creates (Graph lobbyBypassSettings.scope); everyone lets ACS users in without an admit.')
@allowed(['organizer', 'organization', 'organizationAndFederated', 'everyone', 'invited', 'organizationExcludingGuests'])
param teamsLobbyBypass string = 'everyone'

@description('Tenant of the Graph app (empty: this deployment\'s tenant).')
param graphTenantId string = ''

@description('Graph app (client) id: an app registration with a client secret, or empty to use the Function App\'s managed identity (preferred: no secret to rotate).')
param graphClientId string = ''

@description('Client secret of the graphClientId app registration (empty: the managed identity). Prefer a Key Vault reference in production.')
@secure()
param graphClientSecret string = ''

@description('Entra authority host and Graph endpoint (version included); empty: the public cloud\'s. Set both for a national cloud.')
param graphAuthorityHost string = ''
param graphEndpoint string = ''

@description('Put the first 100 characters of a chat message in its push (false: only who wrote, and where).')
param chatPushPreview bool = true

param tablePrefix string = ''
param logLevel string = 'info'

@description('Largest number of instances the Flex Consumption plan may scale to (Flex accepts 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory per Flex Consumption instance.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 512

@description('Notification Hubs namespace tier.')
@allowed(['Free', 'Basic', 'Standard'])
param notificationHubsSku string = 'Free'

@description('ACS data location.')
param acsDataLocation string = 'United States'

@description('Turn off ACS access keys when only the managed identity calls ACS (then ACS_CONNECTION_STRING cannot point a local handler at this resource).')
param acsDisableLocalAuth bool = false

var suffix = uniqueString(resourceGroup().id, name)
var appName = '${name}-${suffix}'

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${name}-id-${suffix}'
  location: location
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    name: name
    suffix: suffix
    location: location
    principalId: identity.properties.principalId
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    // Storage account names allow only lowercase letters and digits.
    accountName: take(toLower(replace('${name}${suffix}', '-', '')), 24)
    location: location
    principalId: identity.properties.principalId
  }
}

module communication 'modules/communication.bicep' = {
  name: 'communication'
  params: {
    name: '${name}-acs-${suffix}'
    dataLocation: acsDataLocation
    principalId: identity.properties.principalId
    disableLocalAuth: acsDisableLocalAuth
  }
}

module notificationHubs 'modules/notificationhubs.bicep' = {
  name: 'notificationhubs'
  params: {
    namespaceName: '${name}-nh-${suffix}'
    hubName: 'switchboard'
    location: location
    sku: notificationHubsSku
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    appName: appName
    location: location
    identityId: identity.id
    identityClientId: identity.properties.clientId
    storageAccountName: storage.outputs.accountName
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    appInsightsConnectionString: monitoring.outputs.connectionString
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    notificationHubNamespaceName: notificationHubs.outputs.namespaceName
    notificationHubName: notificationHubs.outputs.hubName
    notificationHubSendRuleName: notificationHubs.outputs.sendRuleName
    // Every setting the handler reads (DESIGN.md), except PUBLIC_BASE_URL
    // and NOTIFICATION_HUB_CONNECTION_STRING, which the module sets. Empty
    // means "off". Credentials: see "Adding a setting" in docs/deploy.md.
    settings: {
      STORAGE_TABLE_ENDPOINT: storage.outputs.tableEndpoint
      TABLE_PREFIX: tablePrefix
      ACS_ENDPOINT: communication.outputs.endpoint
      ACS_RESOURCE_ID: communication.outputs.immutableResourceId
      ACS_CALLBACK_OIDC_CONFIG: acsCallbackOidcConfig
      ACS_PSTN_CALLER_ID: acsPstnCallerId
      ACS_COGNITIVE_SERVICES_ENDPOINT: acsCognitiveServicesEndpoint
      ACS_CALL_AUTOMATION_API_VERSION: acsCallAutomationApiVersion
      BOT_CALL_LOG_RETENTION_DAYS: string(botCallLogRetentionDays)
      AUTH_PSTN_ROLE: authPstnRole
      PSTN_ALLOWED_PREFIXES: pstnAllowedPrefixes
      PSTN_BLOCKED_PREFIXES: pstnBlockedPrefixes
      QUOTA_TOKENS_PER_MINUTE: string(quotaTokensPerMinute)
      QUOTA_CALLS_PER_HOUR: string(quotaCallsPerHour)
      QUOTA_INVITES_PER_HOUR: string(quotaInvitesPerHour)
      QUOTA_DIALS_PER_DAY: string(quotaDialsPerDay)
      QUOTA_DEVICE_REGISTRATIONS_PER_DAY: string(quotaDeviceRegistrationsPerDay)
      QUOTA_SERVICE_TOKENS_PER_MINUTE: string(quotaServiceTokensPerMinute)
      QUOTA_SERVICE_CALLS_PER_HOUR: string(quotaServiceCallsPerHour)
      QUOTA_SERVICE_INVITES_PER_HOUR: string(quotaServiceInvitesPerHour)
      QUOTA_SERVICE_DIALS_PER_DAY: string(quotaServiceDialsPerDay)
      QUOTA_SERVICE_DEVICE_REGISTRATIONS_PER_DAY: string(quotaServiceDeviceRegistrationsPerDay)
      QUOTA_SPACES_PER_HOUR: string(quotaSpacesPerHour)
      QUOTA_SPACE_INVITES_PER_HOUR: string(quotaSpaceInvitesPerHour)
      QUOTA_CALL_AUTOMATION_PER_HOUR: string(quotaCallAutomationPerHour)
      QUOTA_REVOCATIONS_PER_HOUR: string(quotaRevocationsPerHour)
      QUOTA_TEAMS_MEETINGS_PER_DAY: string(quotaTeamsMeetingsPerDay)
      QUOTA_SERVICE_SPACES_PER_HOUR: string(quotaServiceSpacesPerHour)
      QUOTA_SERVICE_SPACE_INVITES_PER_HOUR: string(quotaServiceSpaceInvitesPerHour)
      QUOTA_SERVICE_CALL_AUTOMATION_PER_HOUR: string(quotaServiceCallAutomationPerHour)
      QUOTA_SERVICE_REVOCATIONS_PER_HOUR: string(quotaServiceRevocationsPerHour)
      QUOTA_SERVICE_TEAMS_MEETINGS_PER_DAY: string(quotaServiceTeamsMeetingsPerDay)
      QUOTA_CHAT_PUSHES_PER_HOUR: string(quotaChatPushesPerHour)
      QUOTA_GUEST_REPLIES_PER_HOUR: string(quotaGuestRepliesPerHour)
      QUOTA_RINGS_PER_HOUR: string(quotaRingsPerHour)
      QUOTA_BOT_RINGS_PER_HOUR: string(quotaBotRingsPerHour)
      QUOTA_APP_TEAMS_MEETINGS_PER_DAY: string(quotaAppTeamsMeetingsPerDay)
      AUTH_ISSUER: authIssuer
      AUTH_AUDIENCE: authAudience
      AUTH_USER_CLAIM: authUserClaim
      AUTH_EASYAUTH: authEasyAuth ? 'true' : 'false'
      AUTH_SERVICE_ROLE: authServiceRole
      TOKEN_SCOPES: tokenScopes
      TOKEN_DEFAULT_SCOPES: tokenDefaultScopes
      TOKEN_CACHE_KEY: tokenCacheKey
      TOKEN_CACHE_KEY_PREVIOUS: tokenCacheKeyPrevious
      NOTIFICATION_HUB_NAME: notificationHubs.outputs.hubName
      APNS_VOIP_TOPIC: apnsVoipTopic
      WEBPUSH_VAPID_PUBLIC_KEY: webPushVapidPublicKey
      WEBPUSH_VAPID_PRIVATE_KEY: webPushVapidPrivateKey
      WEBPUSH_SUBJECT: webPushSubject
      WEBPUSH_ALLOWED_HOSTS: webPushAllowedHosts
      // Loopback push targets are for local development against emulators only.
      PUSH_ALLOW_LOOPBACK_TARGETS: 'false'
      DEVICE_TTL_DAYS: string(deviceTtlDays)
      MAX_DEVICES_PER_USER: string(maxDevicesPerUser)
      MAX_CONTACTS_PER_USER: string(maxContactsPerUser)
      EVENTGRID_TOPIC_ENDPOINT: eventGridTopicEndpoint
      EVENTGRID_TOPIC_KEY: eventGridTopicKey
      EVENTS_WEBHOOK_KEY: eventsWebhookKey
      TURN_URLS: turnUrls
      TURN_SHARED_SECRET: turnSharedSecret
      TURN_SHARED_SECRET_PREVIOUS: turnSharedSecretPrevious
      TURN_USER_KEY: turnUserKey
      TURN_TTL_MINUTES: string(turnTtlMinutes)
      QUOTA_RELAY_PER_HOUR: string(quotaRelayPerHour)
      QUOTA_SERVICE_RELAY_PER_HOUR: string(quotaServiceRelayPerHour)
      TEAMS_ORGANIZER_ID: teamsOrganizerId
      TEAMS_LOBBY_BYPASS: teamsLobbyBypass
      GRAPH_TENANT_ID: empty(teamsOrganizerId) ? '' : (empty(graphTenantId) ? tenant().tenantId : graphTenantId)
      // Without a secret: the user-assigned managed identity's client id.
      GRAPH_CLIENT_ID: empty(teamsOrganizerId) ? '' : (empty(graphClientId) ? identity.properties.clientId : graphClientId)
      GRAPH_CLIENT_SECRET: graphClientSecret
      GRAPH_AUTHORITY_HOST: graphAuthorityHost
      GRAPH_ENDPOINT: graphEndpoint
      CHAT_PUSH_PREVIEW: chatPushPreview ? 'true' : 'false'
      ACS_SMS_FROM: acsSmsFrom
      SMS_GUEST_TEMPLATE: smsGuestTemplate
      GUEST_JOIN_URL: guestJoinUrl
      SMS_ALLOWED_PREFIXES: smsAllowedPrefixes
      SMS_BLOCKED_PREFIXES: smsBlockedPrefixes
      MAX_GUESTS_PER_CALL: string(maxGuestsPerCall)
      QUOTA_SMS_PER_DAY: string(quotaSmsPerDay)
      QUOTA_SERVICE_SMS_PER_DAY: string(quotaServiceSmsPerDay)
      LOG_LEVEL: logLevel
    }
  }
}

// The system topic exists from the start; its subscription to the callevents
// function is created after the code is deployed (azure.yaml postdeploy hook,
// modules/callevents-subscription.bicep), because Event Grid checks that the
// function exists when the subscription is created.
module eventGrid 'modules/eventgrid.bicep' = {
  name: 'eventgrid'
  params: {
    name: '${name}-acs-events-${suffix}'
    communicationServiceId: communication.outputs.id
    storageAccountName: storage.outputs.accountName
  }
}

output AZURE_FUNCTION_APP_NAME string = appName
output AZURE_RESOURCE_GROUP string = resourceGroup().name
output FUNCTION_BASE_URL string = 'https://${functionApp.outputs.defaultHostName}/api'
output EVENTGRID_SYSTEM_TOPIC_NAME string = eventGrid.outputs.systemTopicName
output DEAD_LETTER_CONTAINER string = eventGrid.outputs.deadLetterContainer
output STORAGE_ACCOUNT_NAME string = storage.outputs.accountName

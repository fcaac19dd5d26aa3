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

@description('OpenID configuration for ACS callback JWTs (empty: ACS\'s own).')
param acsCallbackOidcConfig string = ''

@description('Optional Event Grid topic to publish Switchboard\'s own events to.')
param eventGridTopicEndpoint string = ''
@secure()
param eventGridTopicKey string = ''

@description('Key for POST /api/events, the direct Event Grid webhook (unused behind the Functions host).')
@secure()
param eventsWebhookKey string = ''

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
      AUTH_ISSUER: authIssuer
      AUTH_AUDIENCE: authAudience
      AUTH_USER_CLAIM: authUserClaim
      AUTH_EASYAUTH: authEasyAuth ? 'true' : 'false'
      AUTH_SERVICE_ROLE: authServiceRole
      TOKEN_SCOPES: tokenScopes
      TOKEN_DEFAULT_SCOPES: tokenDefaultScopes
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
      CHAT_PUSH_PREVIEW: chatPushPreview ? 'true' : 'false'
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

// The Function App: Flex Consumption, Linux, custom handler runtime, the
// user-assigned identity for storage (host and tables), ACS and deployment.
param appName string
param location string
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerUrl string
param appInsightsConnectionString string

@description('Largest number of instances; Flex Consumption accepts 40 to 1000.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

@description('Memory per instance; the Go handler fits the smallest size.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 512

@description('Switchboard\'s own settings (DESIGN.md), name -> value, except PUBLIC_BASE_URL and NOTIFICATION_HUB_CONNECTION_STRING, which are set here.')
@secure()
param settings object

@description('The Notification Hubs namespace, hub and send-only rule whose connection string the app gets.')
param notificationHubNamespaceName string
param notificationHubName string
param notificationHubSendRuleName string

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: '${appName}-plan'
  location: location
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  kind: 'functionapp,linux'
  tags: { 'azd-service-name': 'switchboard' }
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references in app settings resolve with this identity (the
    // default is a system-assigned one, which this app does not have).
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  }
}

// The send rule's keys are read here, where the setting is built, so they
// never pass through a module output (kept in plain text in the deployment
// history).
resource notificationHubNamespace 'Microsoft.NotificationHubs/namespaces@2023-09-01' existing = {
  name: notificationHubNamespaceName
}

resource notificationHub 'Microsoft.NotificationHubs/namespaces/notificationHubs@2023-09-01' existing = {
  parent: notificationHubNamespace
  name: notificationHubName
}

resource notificationHubSendRule 'Microsoft.NotificationHubs/namespaces/notificationHubs/authorizationRules@2023-09-01' existing = {
  parent: notificationHub
  name: notificationHubSendRuleName
}

// App settings as a child resource, so PUBLIC_BASE_URL can name the host
// name Azure gave the app (it differs per cloud and with unique host names).
// Flex Consumption takes its runtime from functionAppConfig: no
// FUNCTIONS_WORKER_RUNTIME or FUNCTIONS_EXTENSION_VERSION here.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: app
  name: 'appsettings'
  properties: union(settings, {
    // The host's own storage, through the identity (no shared keys).
    AzureWebJobsStorage__accountName: storageAccountName
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId
    APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
    // azidentity's DefaultAzureCredential picks the user-assigned identity by this.
    AZURE_CLIENT_ID: identityClientId
    // Call Automation sends mid-call events back to this address.
    PUBLIC_BASE_URL: 'https://${app.properties.defaultHostName}'
    NOTIFICATION_HUB_CONNECTION_STRING: notificationHubSendRule.listKeys().primaryConnectionString
  })
}

output id string = app.id
output name string = app.name
output defaultHostName string = app.properties.defaultHostName

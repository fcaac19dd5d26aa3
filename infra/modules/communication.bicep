// The Azure Communication Services resource. The app's managed identity
// calls its data plane (identities, Rooms, Call Automation) with an Entra
// token; no access key is put in the app's settings.
param name string
param dataLocation string
param principalId string

@description('Turn off ACS access keys: only Entra callers (the app\'s identity) are accepted, and no key exists to read.')
param disableLocalAuth bool = false

resource acs 'Microsoft.Communication/communicationServices@2025-05-01' = {
  name: name
  location: 'global'
  properties: {
    dataLocation: dataLocation
    // While keys exist, anyone who may list them (Contributor on this
    // resource, which the app's identity has for the data plane) can read
    // one; they stay on by default so a developer can point a local handler
    // here with ACS_CONNECTION_STRING. Turn them off when only the managed
    // identity calls ACS.
    disableLocalAuth: disableLocalAuth
  }
}

// ACS authorizes Entra callers of its data plane (identities, tokens, Rooms,
// Call Automation) by Azure RBAC on the resource; Microsoft's ACS Entra
// quickstarts grant Contributor, here scoped to this one resource.
var contributor = 'b24988ac-6180-42a0-ab88-20f7382dd24c'

resource dataPlane 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(acs.id, principalId, contributor)
  scope: acs
  properties: {
    principalId: principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', contributor)
  }
}

output id string = acs.id
output endpoint string = 'https://${acs.properties.hostName}'
output immutableResourceId string = acs.properties.immutableResourceId

// The Azure Communication Services resource. The app's managed identity
// calls its data plane (identities, Rooms, Call Automation) with an Entra
// token, so no access key is handed to the app.
param name string
param dataLocation string
param principalId string

resource acs 'Microsoft.Communication/communicationServices@2023-04-01' = {
  name: name
  location: 'global'
  properties: {
    dataLocation: dataLocation
    // Keys stay enabled so a developer can point a local handler at this
    // resource (ACS_CONNECTION_STRING); the deployed app never gets one.
    disableLocalAuth: false
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

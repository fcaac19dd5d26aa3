package graphemu

import (
	"errors"

	"github.com/google/uuid"

	"switchboard/dev/devtls"
	"switchboard/dev/entraemu"
)

// TenantOptions configure StartTenant; empty ids are random, empty
// addresses 127.0.0.1:0, an empty secret random.
type TenantOptions struct {
	EntraAddr, GraphAddr          string
	TenantID, ClientID, Organizer string
	Secret                        string
}

// Tenant is what Switchboard's Teams meetings need of a tenant: the Entra
// emulator, a Graph emulator trusting it (one certificate for both), an
// app registration holding OnlineMeetings.ReadWrite.All, and an organizer
// whom an application access policy lets the app act for.
type Tenant struct {
	Cert      *devtls.Certificate
	Entra     *entraemu.Emulator
	Graph     *Emulator
	App       entraemu.App
	Organizer string
}

// StartTenant starts both emulators and sets the tenant up.
func StartTenant(o TenantOptions) (t *Tenant, err error) {
	t = &Tenant{Organizer: o.Organizer}
	defer func() {
		if err != nil {
			_ = t.Close()
		}
	}()
	if t.Cert, err = devtls.New("Switchboard Entra and Graph emulators"); err != nil {
		return nil, err
	}
	if t.Entra, err = entraemu.Start(entraemu.Options{Addr: o.EntraAddr, TLS: t.Cert, TenantID: o.TenantID}); err != nil {
		return nil, err
	}
	if t.Graph, err = Start(Options{Addr: o.GraphAddr, TLS: t.Cert, Tokens: t.Entra}); err != nil {
		return nil, err
	}
	t.Entra.AddGraphIdentifier(t.Graph.Origin())
	if o.ClientID == "" {
		o.ClientID = uuid.NewString()
	}
	if o.Secret == "" {
		o.Secret = uuid.NewString()
	}
	t.App = t.Entra.RegisterApp(entraemu.App{ClientID: o.ClientID, Secret: o.Secret, Roles: []string{RoleReadWrite}})
	if t.Organizer == "" {
		t.Organizer = uuid.NewString()
	}
	t.Graph.AddUser(t.Organizer, "Switchboard Meetings")
	t.Graph.GrantAccessPolicy(t.App.ClientID, t.Organizer)
	return t, nil
}

// Close stops both emulators.
func (t *Tenant) Close() error {
	var errs []error
	if t.Graph != nil {
		errs = append(errs, t.Graph.Close())
	}
	if t.Entra != nil {
		errs = append(errs, t.Entra.Close())
	}
	return errors.Join(errs...)
}

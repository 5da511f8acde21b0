package sandbox

import "context"

// FillWarm exposes fillWarm to the tests.
func (m *Manager) FillWarm(ctx context.Context) bool { return m.fillWarm(ctx) }

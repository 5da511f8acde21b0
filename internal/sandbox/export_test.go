package sandbox

import (
	"context"
	"time"
)

// FillWarm exposes fillWarm to the tests.
func (m *Manager) FillWarm(ctx context.Context) bool { return m.fillWarm(ctx) }

// SetClock makes m read the time from now: tests move it instead of
// sleeping.
func (m *Manager) SetClock(now func() time.Time) { m.now = now }

// SweepTurn exposes sweepTurn to the tests.
func (m *Manager) SweepTurn(ctx context.Context, turn int) error {
	return m.sweepTurn(ctx, false, turn)
}

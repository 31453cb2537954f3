package cli

import (
	"fmt"
	"math"
)

// checkDurations refuses a negative value of any of the named duration
// flags: "-1h" is a typo, never "the default" or "no limit".
func (a *app) checkDurations(names ...string) error {
	for _, name := range names {
		if d := a.v.GetDuration(name); d < 0 {
			return usageError(fmt.Errorf("--%s %v: want a duration of zero or more", name, d))
		}
	}
	return nil
}

// checkPercent refuses a percentage flag that is not a positive finite
// number: every comparison with NaN is false, so NaN would switch the check
// it sets off without a word.
func checkPercent(name string, v float64) error {
	if !(v > 0) || math.IsInf(v, 0) {
		return usageError(fmt.Errorf("--%s %v: want a positive percentage", name, v))
	}
	return nil
}

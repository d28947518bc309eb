//go:build !race

package sad

const raceEnabled = false

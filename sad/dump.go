package sad

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// Info describes one SA for a dump, in the spirit of `swanctl --list-sas`
// and `ip xfrm state`. Info is a snapshot value, safe for concurrent use.
type Info struct {
	Dir     Direction
	Proto   Proto
	SPI     uint32
	Key     OutboundKey // outbound SAs
	State   State
	Mode    string // "transport" or "tunnel" (of the outer transform)
	Algs    string // e.g. "esp aes-gcm-16/none" or "ah hmac-sha2-256-128 + esp ..."
	Age     time.Duration
	Packets uint64
	Bytes   uint64
	// Time left before the soft and hard time limits; negative when passed,
	// zero when there is no such limit.
	SoftIn, HardIn time.Duration
	// Bytes and packets left before the hard limits; -1 when unlimited.
	BytesLeft, PacketsLeft int64
	// Drops counted by the transforms.
	ReplayDrops, AuthFailures, Malformed uint64
}

// Dump returns every SA in the database (larval ones included), inbound
// first, then by SPI.
func (db *DB) Dump() []Info {
	now := db.clock.Now()
	var out []Info
	add := func(s *SA) { out = append(out, s.info(now)) }
	db.in.Load().each(add)
	db.out.Load().each(add)
	for _, s := range *db.multi.Load() {
		add(s)
	}
	db.mu.Lock()
	for _, s := range db.larval {
		add(s)
	}
	db.mu.Unlock()
	slices.SortFunc(out, func(a, b Info) int {
		if a.Dir != b.Dir {
			return int(a.Dir) - int(b.Dir)
		}
		if a.SPI != b.SPI {
			if a.SPI < b.SPI {
				return -1
			}
			return 1
		}
		return int(a.Proto) - int(b.Proto)
	})
	return out
}

func (s *SA) info(now time.Time) Info {
	packets, bytes := s.traffic.Load()
	i := Info{
		Dir: s.dir, Proto: s.proto, SPI: s.spi, Key: s.key, State: s.State(),
		Age: now.Sub(s.added), Packets: packets, Bytes: bytes,
		BytesLeft: -1, PacketsLeft: -1,
	}
	if s.life.SoftTime > 0 {
		i.SoftIn = s.added.Add(s.life.SoftTime).Sub(now)
	}
	if s.life.HardTime > 0 {
		i.HardIn = s.added.Add(s.life.HardTime).Sub(now)
	}
	if s.life.HardBytes > 0 {
		i.BytesLeft = max(0, int64(s.life.HardBytes)-int64(i.Bytes))
	}
	if s.life.HardPackets > 0 {
		i.PacketsLeft = max(0, int64(s.life.HardPackets)-int64(i.Packets))
	}
	if s.ah != nil {
		st := s.ah.Stats()
		i.Mode = s.ah.Mode().String()
		i.Algs = "ah " + s.ah.Integrity().String()
		i.ReplayDrops, i.AuthFailures, i.Malformed = st.ReplayDrops, st.AuthFailures, st.Malformed
	}
	if s.esp != nil {
		st := s.esp.Stats()
		if i.Mode == "" {
			i.Mode = s.esp.Mode().String()
			i.Algs = "esp"
		} else {
			i.Algs += " + esp"
		}
		i.ReplayDrops += st.ReplayDrops
		i.AuthFailures += st.AuthFailures
		i.Malformed += st.Malformed
	}
	return i
}

// WriteDump writes Dump as text, one SA per line.
func (db *DB) WriteDump(w io.Writer) error {
	for _, i := range db.Dump() {
		key := ""
		if i.Dir == Outbound {
			key = fmt.Sprintf(" rule=%d sel=%d", i.Key.Rule, i.Key.Selector)
		}
		_, err := fmt.Fprintf(w, "%-3s %-3s spi=0x%08x%s %s %s [%s] age=%s bytes=%d packets=%d rekey-in=%s expire-in=%s bytes-left=%s packets-left=%s replay-drops=%d auth-failures=%d malformed=%d\n",
			i.Dir, i.Proto, i.SPI, key, i.State, i.Mode, i.Algs, i.Age.Round(time.Second), i.Bytes, i.Packets,
			durOrDash(i.SoftIn), durOrDash(i.HardIn), leftOrDash(i.BytesLeft), leftOrDash(i.PacketsLeft),
			i.ReplayDrops, i.AuthFailures, i.Malformed)
		if err != nil {
			return err
		}
	}
	return nil
}

func durOrDash(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(time.Second).String()
}

func leftOrDash(n int64) string {
	if n < 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

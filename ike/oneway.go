package ike

import (
	"time"

	"github.com/ipsecgo/ipsec/isakmp"
)

// Unprotected error responses outside of an IKE SA (RFC 7296 1.5):
// INVALID_MAJOR_VERSION for a request of a higher major version (2.5) and
// INVALID_IKE_SPI for a request on an IKE SA this side does not know
// (2.21.4). They are one-way: the receiver of such a response must not
// answer it or change any state, so they are only ever sent for requests.

// DefaultErrorRate is the default rate of unprotected error responses an
// Endpoint sends (per second, with a burst of as many).
const DefaultErrorRate = 10

// oneWayResponse builds the unprotected response of RFC 7296 1.5 to the
// request with header h: the IKE SPIs, Message ID and Exchange Type are
// copied, the Response flag is set, the version is ours (2.0, which for
// INVALID_MAJOR_VERSION is the closest version we support, 3.10.1), and
// the only payload is a Notify of type t without SPI or data. It returns
// nil for a response: those are never answered.
func oneWayResponse(h *isakmp.Header, t isakmp.NotifyType) []byte {
	if h.Flags&isakmp.FlagResponse != 0 {
		return nil
	}
	rh := isakmp.Header{InitiatorSPI: h.InitiatorSPI, ResponderSPI: h.ResponderSPI,
		Version: isakmp.VersionIKEv2, Exchange: h.Exchange, MessageID: h.MessageID,
		Flags: isakmp.FlagResponse}
	if h.Flags&isakmp.FlagInitiator == 0 {
		// The request came from the original responder: we are the
		// original initiator (RFC 7296 3.1, the I flag).
		rh.Flags |= isakmp.FlagInitiator
	}
	m := isakmp.Message{Header: rh, Payloads: []isakmp.Payload{notify(t, nil)}}
	b, err := m.Append(nil)
	if err != nil {
		return nil
	}
	return b
}

// rateLimit is a token bucket: up to burst events at once, refilled at
// rate per second. It is not safe for concurrent use.
type rateLimit struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

func newRateLimit(rate float64) *rateLimit {
	burst := max(rate, 1)
	return &rateLimit{rate: rate, burst: burst, tokens: burst}
}

// allow reports whether an event at now is within the limit and, if so,
// takes a token for it. A zero or negative rate allows nothing.
func (r *rateLimit) allow(now time.Time) bool {
	if r.rate <= 0 {
		return false
	}
	if !r.last.IsZero() && now.After(r.last) {
		r.tokens = min(r.burst, r.tokens+now.Sub(r.last).Seconds()*r.rate)
	}
	if r.last.IsZero() || now.After(r.last) {
		r.last = now
	}
	if r.tokens < 1 {
		return false
	}
	r.tokens--
	return true
}

// initReply builds the stateless answer to the IKE_SA_INIT request with
// header h that holds a single notification: a COOKIE challenge (RFC 7296
// 2.6) or a refusal such as NO_PROPOSAL_CHOSEN (2.7). The responder SPI
// stays zero and the header is the request's with the Response flag.
func initReply(h *isakmp.Header, t isakmp.NotifyType, data []byte) []byte {
	rh := isakmp.Header{InitiatorSPI: h.InitiatorSPI, Version: isakmp.VersionIKEv2,
		Exchange: isakmp.ExchangeIKESAInit, MessageID: h.MessageID, Flags: isakmp.FlagResponse}
	m := isakmp.Message{Header: rh, Payloads: []isakmp.Payload{notify(t, data)}}
	b, err := m.Append(nil)
	if err != nil {
		return nil
	}
	return b
}

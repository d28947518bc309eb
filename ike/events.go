package ike

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/ipsecgo/ipsec/auth"
	"github.com/ipsecgo/ipsec/isakmp"
)

// EventKind says what an Event reports. It is a plain value, safe for
// concurrent use.
type EventKind uint8

// Event kinds.
const (
	// EventIKEUp: the IKE SA is established (after IKE_AUTH).
	EventIKEUp EventKind = iota + 1
	// EventChildUp: a new CHILD SA; install Child.
	EventChildUp
	// EventChildRekeyed: Child replaces Old. Install Child now; keep Old
	// for inbound traffic until EventChildDeleted for it.
	EventChildRekeyed
	// EventChildDeleted: remove Child.
	EventChildDeleted
	// EventIKERekeyed: the IKE SA has new SPIs (IKE.SPIi, IKE.SPIr); the
	// old ones stay valid until EventIKEDown.
	EventIKERekeyed
	// EventIKEDown: the IKE SA and all its CHILD SAs are gone (deleted,
	// expired or failed). The session is closed.
	EventIKEDown
	// EventPeerDead: a request was retransmitted the configured number of
	// times without an answer. EventIKEDown follows.
	EventPeerDead
	// EventAuthFailed: authentication failed on either side. EventIKEDown
	// follows.
	EventAuthFailed
	// EventChildFailed: a CHILD SA could not be created or rekeyed; Err
	// says why (often a NotifyError). The IKE SA stays up.
	EventChildFailed
)

var eventNames = map[EventKind]string{
	EventIKEUp: "ike-up", EventChildUp: "child-up", EventChildRekeyed: "child-rekeyed",
	EventChildDeleted: "child-deleted", EventIKERekeyed: "ike-rekeyed", EventIKEDown: "ike-down",
	EventPeerDead: "peer-dead", EventAuthFailed: "auth-failed", EventChildFailed: "child-failed",
}

func (k EventKind) String() string {
	if s, ok := eventNames[k]; ok {
		return s
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// Event is something the caller acts on. It is a plain value, safe for
// concurrent reads.
type Event struct {
	Kind  EventKind
	IKE   IKESAInfo
	Child *ChildSA // EventChildUp, EventChildRekeyed, EventChildDeleted
	Old   *ChildSA // EventChildRekeyed: the SA being replaced
	Err   error
}

// IKESAInfo describes an IKE SA. It is a plain value, safe for concurrent
// reads.
type IKESAInfo struct {
	SPIi, SPIr [8]byte
	Initiator  bool // this side is the original initiator
	Encr       Encr
	Integ      isakmp.IntegID
	PRF        isakmp.PRFID
	KE         isakmp.KEGroup
	LocalID    auth.Identity
	RemoteID   auth.Identity // the peer's identity, once authenticated
	// PeerClaimedID is the identity the peer claimed in its ID payload,
	// set as soon as that payload arrives, whether or not it
	// authenticates: the one to log for EventAuthFailed.
	PeerClaimedID auth.Identity
	// LocalAddr and RemoteAddr are the IKE SA's current addresses (port
	// 4500 after a NAT-T move).
	LocalAddr, RemoteAddr netip.AddrPort
	// LocalNAT and RemoteNAT report NAT detection (RFC 7296 2.23): this
	// side or the peer is behind a NAT, so ESP and IKE should move into
	// UDP port 4500.
	LocalNAT, RemoteNAT bool
}

// ChildSA is a negotiated CHILD SA: one inbound and one outbound SA of
// protocol ESP or AH. Its fields map onto esp.Config (Encr.ID is the
// esp.Cipher, Integ the esp.Integrity, keys include salts where the
// cipher's RFC says so) and onto the sad lifetimes. It is a plain value,
// safe for concurrent reads; the key slices belong to the receiver.
type ChildSA struct {
	Protocol    isakmp.ProtocolID
	Mode        Mode
	InboundSPI  uint32 // chosen by this side: the peer sends with it
	OutboundSPI uint32 // chosen by the peer
	Encr        Encr
	Integ       isakmp.IntegID
	ESN         bool
	// PFS is the key exchange method of the CREATE_CHILD_SA that made
	// this SA, or GroupNone.
	PFS isakmp.KEGroup

	InboundEncKey, InboundIntegKey   []byte
	OutboundEncKey, OutboundIntegKey []byte

	LocalTS, RemoteTS []isakmp.TrafficSelector
	// LocalAddr and RemoteAddr are the IKE endpoints, which are the
	// tunnel endpoints in tunnel mode.
	LocalAddr, RemoteAddr netip.Addr
	// EncapLocalPort and EncapRemotePort are the UDP ports of RFC 3948
	// encapsulation (esp.Config EncapSrcPort and EncapDstPort), zero when
	// ESP is sent bare.
	EncapLocalPort, EncapRemotePort uint16

	// SoftLifetime is when this side will rekey (jitter included);
	// HardLifetime when the SA must be gone (RFC 4301 4.4.2.1).
	SoftLifetime, HardLifetime time.Duration
	Established                time.Time

	// Initiator says this side sent the request of the exchange that
	// made the SA (IKE_AUTH or CREATE_CHILD_SA; IKEv1's Quick Mode). Its
	// peer installed the SA before answering, so this side may send on
	// it at once (RFC 7296 section 2.8); the responder should wait for a
	// packet on it, or the old SA's Delete.
	Initiator bool
	// Version is the IKE version that negotiated this CHILD SA.
	Version Version
	// Tag is the Tag of the Config it was negotiated with.
	Tag string
	// LifetimeKilobytes is the IKEv1 volume lifetime (RFC 2407 4.5), in
	// kilobytes, zero for none; IKEv2 negotiates none.
	LifetimeKilobytes uint64
	// Bundle, for a part of an IKEv1 AH+ESP bundle (RFC 2408 4.2, as
	// Windows offers AH+ESP; RFC 4301 4.3), is the other part: the ESP
	// part's Bundle is the AH part and the other way round (their own
	// Bundle fields nil). The ESP part's event comes first; the two are
	// rekeyed and deleted together. Nil otherwise (IKEv2 has no
	// bundles).
	Bundle *ChildSA
}

// NotifyError is an error notification received from or sent to the peer
// (RFC 7296 3.10.1). It is a plain value, safe for concurrent use.
type NotifyError isakmp.NotifyType

func (e NotifyError) Error() string {
	return "ike: " + isakmp.NotifyType(e).String()
}

// Stats are a session's counters, a snapshot copied out of the session:
// a plain value, safe for concurrent reads.
type Stats struct {
	// Received and Sent count datagrams.
	Received, Sent uint64
	// Retransmits counts requests sent again after a timeout;
	// CachedResponses counts responses sent again for a retransmitted
	// request (RFC 7296 2.1).
	Retransmits, CachedResponses uint64
	// IntegrityFailures counts messages dropped because their Encrypted
	// payload failed to verify (RFC 7296 2.21.1: silently).
	IntegrityFailures uint64
	// Dropped counts other messages dropped: malformed, unexpected
	// message IDs, wrong SPIs or flags.
	Dropped uint64
	// NoAdditionalSAs counts CHILD SA requests refused with
	// NO_ADDITIONAL_SAS because of Config.MaxChildSAs; CertReqTrimmed
	// IKE_SA_INIT responses whose CERTREQ was shortened so that the
	// response stays within a small factor of the request's size.
	NoAdditionalSAs, CertReqTrimmed uint64
}

// Package seqno is the outbound sequence number counter shared by ESP and
// AH: atomic, starting at 1, and never wrapping (RFC 4303 section 3.3.3,
// RFC 4302 section 3.3.2): when the space is used up, the SA must be
// rekeyed.
//
// References:
//   - RFC 4303 section 3.3.3 and RFC 4302 section 3.3.2: sequence number generation
//   - RFC 4304: Extended Sequence Numbers
package seqno

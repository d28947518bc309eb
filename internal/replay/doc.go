// Package replay implements the anti-replay window shared by ESP and AH
// (RFC 4303 section 3.4.3, RFC 4302 section 3.4.3) and the inference of the
// high-order bits of Extended Sequence Numbers (RFC 4303 Appendix A).
//
// The window is a ring of bitmap blocks in the spirit of RFC 6479, so a large
// window costs no more per packet than a small one. Each ring slot carries
// the number of the block it holds next to its 32 bits, so moving the window
// clears nothing, and setting a bit is one compare-and-swap: the window takes
// no lock.
//
// References:
//   - RFC 4303 section 3.4.3 and RFC 4302 section 3.4.3: the anti-replay window
//   - RFC 4303 Appendix A: ESN high-order bit inference
//   - RFC 6479: an anti-replay window without bit shifting
package replay

// Package replay implements the anti-replay window shared by ESP and AH
// (RFC 4303 section 3.4.3, RFC 4302 section 3.4.3) and the inference of the
// high-order bits of Extended Sequence Numbers (RFC 4303 Appendix A).
//
// The window is a ring of 64-bit blocks in the spirit of RFC 6479: moving the
// window forward clears whole blocks instead of shifting a bitmap, so a large
// window costs no more per packet than a small one.
//
// References:
//   - RFC 4303 section 3.4.3 and RFC 4302 section 3.4.3: the anti-replay window
//   - RFC 4303 Appendix A: ESN high-order bit inference
//   - RFC 6479: an anti-replay window without bit shifting
package replay

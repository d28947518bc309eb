// Package aesgcm is AES-GCM (NIST SP 800-38D) for the ESP data path,
// with an amd64 implementation on the vector AES and carry-less multiply
// instructions (VAES, VPCLMULQDQ on 512-bit registers, AVX-512): four
// blocks per instruction where crypto/cipher's GCM does one: on a CPU
// that has them it seals a 1400-byte packet about 3x as fast and opens
// it 2 to 3x (BenchmarkSeal and BenchmarkOpen, with crypto/cipher's GCM
// as their baseline in the same run).
//
// New returns that implementation where the CPU has the instructions and
// crypto/cipher's GCM everywhere else (and under the purego build tag, and
// in FIPS 140-3 mode, where AES-GCM stays inside Go's validated module);
// both are cipher.AEADs with a 12-byte nonce, and the tests hold the fast
// one to crypto/cipher's output at every length to 2 KiB and beyond, to
// the Wycheproof vectors and, under fuzzing, to arbitrary input.
//
// The counter half encrypts sixteen blocks per loop (RFC 4106's counter
// blocks: salt, IV, a 32-bit block counter from 2). The GHASH half
// multiplies each block of a run of up to 32 by its own power of H
// (H^32 ... H^1, Karatsuba: three carry-less products a block) and
// reduces the run once (the aggregated reduction of Gueron and Kounavis,
// "Intel Carry-Less Multiplication Instruction and its Usage for
// Computing the GCM Mode", 2010, in the bit-reflected form that
// crypto/cipher's amd64 GCM uses too: blocks byte-swapped, H multiplied
// by x^-1 so that no product needs a shift, two folds by the constant
// 0xc2 << 56). The powers take 1 KiB per key. Nonce, lengths and J0 are
// built in registers from the caller's bytes, and nothing passes between
// the calls of one packet through memory wider than it was written: a
// store that cannot forward to a wider load stalls more than a run
// costs.
//
// References:
//   - NIST SP 800-38D: GCM and GMAC (sections 6.3 to 7.2)
//   - FIPS 197: AES (section 5.2, the key expansion)
//   - RFC 4106: GCM in ESP (the nonce: 4-byte salt and 8-byte IV)
package aesgcm

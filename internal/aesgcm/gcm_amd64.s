//go:build amd64 && !purego

#include "textflag.h"

// The assembly half of package aesgcm: ctrXOR (GCTR, SP 800-38D 6.5),
// ghashSeg (GHASH, 6.4) and ghashTag (7.1 steps 5 and 6), on 512-bit
// registers that hold four blocks.

// ctrSwap turns a lane of nonce and host-order counter into the counter
// block (the nonce as is, the counter big-endian: inc32, SP 800-38D 6.2).
DATA ctrSwap<>+0x00(SB)/8, $0x0706050403020100
DATA ctrSwap<>+0x08(SB)/8, $0x0c0d0e0f0b0a0908
GLOBL ctrSwap<>(SB), RODATA|NOPTR, $16

// ctrInit holds the first four block counters (2 to 5: J0 holds 1, SP
// 800-38D 7.1 step 2), one a lane, where ctrXOR adds them to the nonce.
DATA ctrInit<>+0x00(SB)/8, $0
DATA ctrInit<>+0x08(SB)/8, $0x0000000200000000
DATA ctrInit<>+0x10(SB)/8, $0
DATA ctrInit<>+0x18(SB)/8, $0x0000000300000000
DATA ctrInit<>+0x20(SB)/8, $0
DATA ctrInit<>+0x28(SB)/8, $0x0000000400000000
DATA ctrInit<>+0x30(SB)/8, $0
DATA ctrInit<>+0x38(SB)/8, $0x0000000500000000
GLOBL ctrInit<>(SB), RODATA|NOPTR, $64

// inc4 adds four to a lane's counter.
DATA inc4<>+0x00(SB)/8, $0
DATA inc4<>+0x08(SB)/8, $0x0000000400000000
GLOBL inc4<>(SB), RODATA|NOPTR, $16

// bswap reverses the bytes of a lane: a block in GHASH's bit order.
DATA bswap<>+0x00(SB)/8, $0x08090a0b0c0d0e0f
DATA bswap<>+0x08(SB)/8, $0x0001020304050607
GLOBL bswap<>(SB), RODATA|NOPTR, $16

// poly is the reduction constant (see keys.go).
DATA poly<>+0x00(SB)/8, $1
DATA poly<>+0x08(SB)/8, $0xc200000000000000
GLOBL poly<>(SB), RODATA|NOPTR, $16

#define ROUND4(k) \
	VAESENC k, Z0, Z0; \
	VAESENC k, Z1, Z1; \
	VAESENC k, Z2, Z2; \
	VAESENC k, Z3, Z3

#define LAST4(k) \
	VAESENCLAST k, Z0, Z0; \
	VAESENCLAST k, Z1, Z1; \
	VAESENCLAST k, Z2, Z2; \
	VAESENCLAST k, Z3, Z3

// NONCE reads the 12-byte nonce at P into the low 12 bytes of X, the
// rest zero, 4 bytes at a time: the caller's stores of 4 or 8 bytes (RFC
// 4106's salt and IV) forward to such loads, where a wider load over two
// of them would wait for both to reach the cache.
#define NONCE(P, X) \
	MOVL    (P), R10; \
	VMOVD   R10, X; \
	MOVL    4(P), R10; \
	VPINSRD $1, R10, X, X; \
	MOVL    8(P), R10; \
	VPINSRD $2, R10, X, X

// func ctrXOR(rk *[15][16]byte, rounds int, nonce *byte, dst, src *byte, n int)
TEXT ·ctrXOR(SB), NOSPLIT, $0-48
	MOVQ rk+0(FP), AX
	MOVQ rounds+8(FP), R11
	MOVQ nonce+16(FP), DX
	MOVQ dst+24(FP), DI
	MOVQ src+32(FP), SI
	MOVQ n+40(FP), BX

	// Round keys in Z16-Z30, each in all four lanes.
	VBROADCASTI32X4 0(AX), Z16
	VBROADCASTI32X4 16(AX), Z17
	VBROADCASTI32X4 32(AX), Z18
	VBROADCASTI32X4 48(AX), Z19
	VBROADCASTI32X4 64(AX), Z20
	VBROADCASTI32X4 80(AX), Z21
	VBROADCASTI32X4 96(AX), Z22
	VBROADCASTI32X4 112(AX), Z23
	VBROADCASTI32X4 128(AX), Z24
	VBROADCASTI32X4 144(AX), Z25
	VBROADCASTI32X4 160(AX), Z26
	VBROADCASTI32X4 176(AX), Z27
	VBROADCASTI32X4 192(AX), Z28
	VBROADCASTI32X4 208(AX), Z29
	VBROADCASTI32X4 224(AX), Z30
	VBROADCASTI32X4 ctrSwap<>(SB), Z31
	VBROADCASTI32X4 inc4<>(SB), Z11

	// The four lanes of counters: the nonce and counters 2 to 5, in host
	// order.
	NONCE(DX, X12)
	VSHUFI64X2 $0, Z12, Z12, Z12
	VPADDD     ctrInit<>(SB), Z12, Z12

	// Sixteen blocks a loop.
ctr16:
	CMPQ BX, $256
	JB   ctr4
	VPSHUFB Z31, Z12, Z0
	VPADDD  Z11, Z12, Z12
	VPSHUFB Z31, Z12, Z1
	VPADDD  Z11, Z12, Z12
	VPSHUFB Z31, Z12, Z2
	VPADDD  Z11, Z12, Z12
	VPSHUFB Z31, Z12, Z3
	VPADDD  Z11, Z12, Z12
	VPXORD  Z16, Z0, Z0
	VPXORD  Z16, Z1, Z1
	VPXORD  Z16, Z2, Z2
	VPXORD  Z16, Z3, Z3
	ROUND4(Z17)
	ROUND4(Z18)
	ROUND4(Z19)
	ROUND4(Z20)
	ROUND4(Z21)
	ROUND4(Z22)
	ROUND4(Z23)
	ROUND4(Z24)
	ROUND4(Z25)
	CMPQ R11, $10
	JEQ  ctr16last10
	ROUND4(Z26)
	ROUND4(Z27)
	CMPQ R11, $12
	JEQ  ctr16last12
	ROUND4(Z28)
	ROUND4(Z29)
	LAST4(Z30)
	JMP  ctr16xor

ctr16last12:
	LAST4(Z28)
	JMP ctr16xor

ctr16last10:
	LAST4(Z26)

ctr16xor:
	VPXORD    0(SI), Z0, Z0
	VPXORD    64(SI), Z1, Z1
	VPXORD    128(SI), Z2, Z2
	VPXORD    192(SI), Z3, Z3
	VMOVDQU64 Z0, 0(DI)
	VMOVDQU64 Z1, 64(DI)
	VMOVDQU64 Z2, 128(DI)
	VMOVDQU64 Z3, 192(DI)
	ADDQ      $256, SI
	ADDQ      $256, DI
	SUBQ      $256, BX
	JMP       ctr16

	// Four blocks a loop, the bytes past n masked off (K1).
ctr4:
	TESTQ   BX, BX
	JZ      ctrDone
	MOVQ    $64, R8
	CMPQ    BX, R8
	CMOVQLT BX, R8
	MOVQ    $64, CX
	SUBQ    R8, CX
	MOVQ    $-1, R10
	SHRQ    CX, R10
	KMOVQ   R10, K1
	VMOVDQU8.Z (SI), K1, Z1
	VPSHUFB Z31, Z12, Z0
	VPADDD  Z11, Z12, Z12
	VPXORD  Z16, Z0, Z0
	VAESENC Z17, Z0, Z0
	VAESENC Z18, Z0, Z0
	VAESENC Z19, Z0, Z0
	VAESENC Z20, Z0, Z0
	VAESENC Z21, Z0, Z0
	VAESENC Z22, Z0, Z0
	VAESENC Z23, Z0, Z0
	VAESENC Z24, Z0, Z0
	VAESENC Z25, Z0, Z0
	CMPQ    R11, $10
	JEQ     ctr4last10
	VAESENC Z26, Z0, Z0
	VAESENC Z27, Z0, Z0
	CMPQ    R11, $12
	JEQ     ctr4last12
	VAESENC Z28, Z0, Z0
	VAESENC Z29, Z0, Z0
	VAESENCLAST Z30, Z0, Z0
	JMP     ctr4xor

ctr4last12:
	VAESENCLAST Z28, Z0, Z0
	JMP ctr4xor

ctr4last10:
	VAESENCLAST Z26, Z0, Z0

ctr4xor:
	VPXORD   Z1, Z0, Z0
	VMOVDQU8 Z0, K1, (DI)
	ADDQ     $64, SI
	ADDQ     $64, DI
	SUBQ     R8, BX
	JMP      ctr4

ctrDone:
	VZEROUPPER
	RET

// powers is hashPowers (keys.go), kar the distance from a power in a
// hashTable to its Karatsuba operand: (powers+4) entries of 16 bytes.
#define powers 32
#define kar 576

// MULACC multiplies the four blocks in D by the four powers in H lane by
// lane (SP 800-38D 6.3 with carry-less products, Karatsuba: K holds each
// power's two halves XORed) and adds the low, high and middle products
// to Z4, Z5 and Z6 (the middle still holding the low and high ones).
#define MULACC(D, H, K) \
	VPCLMULQDQ $0x00, H, D, Z7; \
	VPCLMULQDQ $0x11, H, D, Z8; \
	VPSHUFD    $0x4e, D, Z9; \
	VPXORD     Z7, Z4, Z4; \
	VPXORD     Z8, Z5, Z5; \
	VPXORD     D, Z9, Z9; \
	VPCLMULQDQ $0x00, K, Z9, Z9; \
	VPXORD     Z9, Z6, Z6

// FOLD sums the four lanes of Z into X, with Y and X its halves and T a
// scratch register.
#define FOLD(Z, Y, X, T) \
	VEXTRACTI64X4 $1, Z, T; \
	VPXORQ        T, Y, Y; \
	VEXTRACTI128  $1, Y, X7; \
	VPXOR         X7, X, X

// REDUCEX joins the low (X4), high (X5) and Karatsuba middle (X6)
// products into the 256-bit product and reduces it into X10: two folds
// of the low half by poly (X14), then the high half added, as
// crypto/cipher's amd64 GCM reduces.
#define REDUCEX \
	VPXOR      X4, X6, X6; \
	VPXOR      X5, X6, X6; \
	VPSLLDQ    $8, X6, X7; \
	VPXOR      X7, X4, X4; \
	VPSRLDQ    $8, X6, X7; \
	VPXOR      X7, X5, X5; \
	VPCLMULQDQ $0x01, X4, X14, X7; \
	VPSHUFD    $78, X4, X4; \
	VPXOR      X7, X4, X4; \
	VPCLMULQDQ $0x01, X4, X14, X7; \
	VPSHUFD    $78, X4, X4; \
	VPXOR      X7, X4, X4; \
	VPXOR      X5, X4, X10

// MULH multiplies X0 by H (the last power in the hashTable at AX) into
// X10.
#define MULH \
	VMOVDQU    (16*(powers-1))(AX), X2; \
	VMOVDQU    (kar+16*(powers-1))(AX), X3; \
	VPCLMULQDQ $0x00, X2, X0, X4; \
	VPCLMULQDQ $0x11, X2, X0, X5; \
	VPSHUFD    $0x4e, X0, X6; \
	VPXOR      X0, X6, X6; \
	VPCLMULQDQ $0x00, X3, X6, X6; \
	VMOVDQU    poly<>(SB), X14; \
	REDUCEX

// func ghashSeg(htab *hashTable, y *[16]byte, data *byte, n int)
//
// Y = (Y + X1)·H^k + X2·H^(k-1) + ... + Xk·H for each run of k <= powers
// blocks: the products of a run are summed unreduced and reduced once,
// so only a run's first block waits for the run before.
TEXT ·ghashSeg(SB), NOSPLIT, $0-32
	MOVQ htab+0(FP), DI
	MOVQ y+8(FP), DX
	MOVQ data+16(FP), SI
	MOVQ n+24(FP), BX
	VBROADCASTI32X4 bswap<>(SB), Z31
	VMOVDQU poly<>(SB), X14
	VMOVDQU (DX), X10

run:
	// R13 bytes in this run; AX at the power of its first block.
	MOVQ    $(16*powers), R13
	CMPQ    BX, R13
	CMOVQLT BX, R13
	SUBQ    R13, BX
	MOVQ    R13, AX
	ADDQ    $15, AX
	SHRQ    $4, AX
	NEGQ    AX
	ADDQ    $powers, AX
	SHLQ    $4, AX
	ADDQ    DI, AX
	VPXORD  Z4, Z4, Z4
	VPXORD  Z5, Z5, Z5
	VPXORD  Z6, Z6, Z6

	// Sixteen blocks a loop, Y added to the run's first.
seg16:
	CMPQ      R13, $256
	JB        seg4
	VMOVDQU64 0(SI), Z0
	VMOVDQU64 64(SI), Z1
	VMOVDQU64 128(SI), Z2
	VMOVDQU64 192(SI), Z3
	VPSHUFB   Z31, Z0, Z0
	VPSHUFB   Z31, Z1, Z1
	VPSHUFB   Z31, Z2, Z2
	VPSHUFB   Z31, Z3, Z3
	VPXORD    Z10, Z0, Z0
	VPXORD    Z10, Z10, Z10
	VMOVDQU64 0(AX), Z20
	VMOVDQU64 64(AX), Z21
	VMOVDQU64 128(AX), Z22
	VMOVDQU64 192(AX), Z23
	VMOVDQU64 kar(AX), Z24
	VMOVDQU64 kar+64(AX), Z25
	VMOVDQU64 kar+128(AX), Z26
	VMOVDQU64 kar+192(AX), Z27
	MULACC(Z0, Z20, Z24)
	MULACC(Z1, Z21, Z25)
	MULACC(Z2, Z22, Z26)
	MULACC(Z3, Z23, Z27)
	ADDQ      $256, SI
	ADDQ      $256, AX
	SUBQ      $256, R13
	JMP       seg16

	// Four blocks a loop, the bytes past the run masked off (K1): the
	// zeros pad the last block, and zero blocks add nothing whatever
	// power their lanes load (the table's zeros past H^1 included).
seg4:
	TESTQ   R13, R13
	JZ      reduce
	MOVQ    $64, R8
	CMPQ    R13, R8
	CMOVQLT R13, R8
	MOVQ    $64, CX
	SUBQ    R8, CX
	MOVQ    $-1, R10
	SHRQ    CX, R10
	KMOVQ   R10, K1
	VMOVDQU8.Z (SI), K1, Z0
	VPSHUFB Z31, Z0, Z0
	VPXORD  Z10, Z0, Z0
	VPXORD  Z10, Z10, Z10
	VMOVDQU64 (AX), Z20
	VMOVDQU64 kar(AX), Z24
	MULACC(Z0, Z20, Z24)
	ADDQ    $64, SI
	ADDQ    $64, AX
	SUBQ    R8, R13
	JMP     seg4

reduce:
	FOLD(Z4, Y4, X4, Y8)
	FOLD(Z5, Y5, X5, Y8)
	FOLD(Z6, Y6, X6, Y8)
	REDUCEX
	TESTQ BX, BX
	JNZ   run
	VMOVDQU X10, (DX)
	VZEROUPPER
	RET

// func ghashTag(htab *hashTable, y *[16]byte, adBits, ctBits uint64, rk *[15][16]byte, rounds int, nonce *byte, tag *[16]byte)
//
// The last GHASH block, the lengths (SP 800-38D 7.1 step 5), times H,
// then the tag: Y in the standard byte order XORed with E(J0), J0 the
// nonce and a block counter of 1 (step 2), encrypted alongside.
TEXT ·ghashTag(SB), NOSPLIT, $0-64
	MOVQ htab+0(FP), AX
	MOVQ y+8(FP), DX
	MOVQ adBits+16(FP), R8
	MOVQ ctBits+24(FP), R9
	MOVQ rk+32(FP), SI
	MOVQ rounds+40(FP), R11
	MOVQ nonce+48(FP), R12
	MOVQ tag+56(FP), DI

	NONCE(R12, X1)
	MOVL    $0x01000000, R10
	VPINSRD $3, R10, X1, X1
	VPXOR   0(SI), X1, X1
	VAESENC 16(SI), X1, X1
	VAESENC 32(SI), X1, X1
	VAESENC 48(SI), X1, X1
	VAESENC 64(SI), X1, X1
	VAESENC 80(SI), X1, X1
	VAESENC 96(SI), X1, X1
	VAESENC 112(SI), X1, X1
	VAESENC 128(SI), X1, X1
	VAESENC 144(SI), X1, X1
	CMPQ    R11, $10
	JEQ     last10
	VAESENC 160(SI), X1, X1
	VAESENC 176(SI), X1, X1
	CMPQ    R11, $12
	JEQ     last12
	VAESENC 192(SI), X1, X1
	VAESENC 208(SI), X1, X1
	VAESENCLAST 224(SI), X1, X1
	JMP     lengths

last12:
	VAESENCLAST 192(SI), X1, X1
	JMP lengths

last10:
	VAESENCLAST 160(SI), X1, X1

lengths:
	// The lengths block read as GHASH reads blocks: the AAD's bits in
	// the high quadword, the ciphertext's in the low.
	VMOVQ      R9, X0
	VPINSRQ    $1, R8, X0, X0
	VMOVDQU    (DX), X10
	VPXOR      X10, X0, X0
	MULH
	VMOVDQU    bswap<>(SB), X7
	VPSHUFB    X7, X10, X10
	VPXOR      X1, X10, X10
	VMOVDQU    X10, (DI)
	RET

// func ghashBlock(htab *hashTable, y *[16]byte, hi, lo uint64)
//
// Y = (Y + X)·H for the block X read as GHASH reads blocks: its first 8
// bytes big-endian in hi, its last 8 in lo.
TEXT ·ghashBlock(SB), NOSPLIT, $0-32
	MOVQ       htab+0(FP), AX
	MOVQ       y+8(FP), DX
	MOVQ       hi+16(FP), R8
	MOVQ       lo+24(FP), R9
	VMOVQ      R9, X0
	VPINSRQ    $1, R8, X0, X0
	VMOVDQU    (DX), X10
	VPXOR      X10, X0, X0
	MULH
	VMOVDQU    X10, (DX)
	RET

// func subWord(x uint32) uint32
TEXT ·subWord(SB), NOSPLIT, $0-12
	MOVL         x+0(FP), AX
	VMOVD        AX, X0
	VPBROADCASTD X0, X0
	VPXOR        X1, X1, X1
	VAESENCLAST  X1, X0, X0
	VMOVD        X0, AX
	MOVL         AX, ret+8(FP)
	RET

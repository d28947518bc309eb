// Package csum is the Internet checksum, shared by the ESP and AH code that
// rewrites IPv4 headers and, for ESP, UDP and TCP checksums.
//
// References:
//   - RFC 1071: Computing the Internet Checksum
//   - RFC 791 section 3.1 (IPv4 header checksum), RFC 768 and RFC 8200
//     section 8.1 (UDP over IPv4 and IPv6)
package csum

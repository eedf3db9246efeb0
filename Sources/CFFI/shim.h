/*
 * libffi for Swift. The worker builds calls to C task functions whose
 * signature is only known from the manifest, and hands them host callbacks
 * made as libffi closures.
 *
 * libffi's ffi_type_* descriptors are mutable globals, which Swift 6's strict
 * concurrency refuses to reference; these accessors return their addresses.
 */
#ifndef TASKHOST_CFFI_SHIM_H
#define TASKHOST_CFFI_SHIM_H

#include <ffi.h>
#include <stddef.h>

static inline ffi_type *cffi_void(void) { return &ffi_type_void; }
static inline ffi_type *cffi_sint32(void) { return &ffi_type_sint32; }
static inline ffi_type *cffi_uint32(void) { return &ffi_type_uint32; }
static inline ffi_type *cffi_sint64(void) { return &ffi_type_sint64; }
static inline ffi_type *cffi_pointer(void) { return &ffi_type_pointer; }
static inline ffi_type *cffi_size_t(void) {
    return sizeof(size_t) == 8 ? &ffi_type_uint64 : &ffi_type_uint32;
}
static inline ffi_abi cffi_default_abi(void) { return FFI_DEFAULT_ABI; }
static inline size_t cffi_closure_size(void) { return sizeof(ffi_closure); }

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * natslib: libnats, opened with dlopen() only when --nats or subscribe asks for it. Linked
 * in, it and what it pulls in (OpenSSL, protobuf-c) cost every xdp-sniff process 2.2 MB of
 * resident memory, which the idle RSS SECURITY.md documents has no room for. Include this
 * instead of <nats/nats.h>: the calls below then go through pointers that natslib_open()
 * fills, typed from the library's own header.
 */
#ifndef XS_NATSLIB_H
#define XS_NATSLIB_H

#include <nats/nats.h>

#define NATSLIB_SONAME "libnats.so.3.4"

#define NATSLIB_FUNCS(X)                                                                       \
	X(jsCtx_Destroy) X(jsOptions_Init) X(jsPubOptions_Init) X(jsStreamConfig_Init)         \
	X(jsStreamInfo_Destroy) X(jsSubOptions_Init) X(js_AddStream) X(js_GetStreamInfo)       \
	X(js_PublishMsgAsync) X(js_PullSubscribe) X(natsConnection_Close)                      \
	X(natsConnection_Connect) X(natsConnection_Destroy) X(natsConnection_FlushTimeout)     \
	X(natsConnection_JetStream) X(natsConnection_Status) X(natsMsgHeader_Get)              \
	X(natsMsgHeader_Set) X(natsMsgList_Destroy) X(natsMsg_Ack) X(natsMsg_Create)           \
	X(natsMsg_Destroy) X(natsMsg_GetData) X(natsMsg_GetDataLength) X(natsOptions_Create)   \
	X(natsOptions_Destroy) X(natsOptions_LoadCATrustedCertificates)                        \
	X(natsOptions_LoadCertificatesChain) X(natsOptions_SetDisconnectedCB)                  \
	X(natsOptions_SetErrorHandler) X(natsOptions_SetMaxPingsOut)                           \
	X(natsOptions_SetMaxReconnect) X(natsOptions_SetName) X(natsOptions_SetPingInterval)    \
	X(natsOptions_SetReconnectWait) X(natsOptions_SetReconnectedCB)                        \
	X(natsOptions_SetRetryOnFailedConnect) X(natsOptions_SetSecure)                        \
	X(natsOptions_SetServers) X(natsOptions_SetTimeout) X(natsOptions_SetToken)            \
	X(natsOptions_SetUserCredentialsFromFiles) X(natsStatus_GetText)                       \
	X(natsSubscription_Destroy) X(natsSubscription_Fetch) X(nats_CloseAndWait)             \
	X(nats_GetLastError) X(nats_ReleaseThreadMemory)

#define NATSLIB_PTR(f) __typeof__(&f) f;
struct natslib {
	NATSLIB_FUNCS(NATSLIB_PTR)
};
#undef NATSLIB_PTR
extern struct natslib natslib;

/* Opens the library and finds every function, once; later calls return the first result.
 * Call it before the process gives up the right to map files (seccomp). Returns 0, or
 * -ENOENT after one line on stderr (libnats-dev / libnats3.4 not installed). */
int natslib_open(void);

#ifndef NATSLIB_IMPL
#define NATSLIB_CALL(f) natslib.f
#define jsCtx_Destroy NATSLIB_CALL(jsCtx_Destroy)
#define jsOptions_Init NATSLIB_CALL(jsOptions_Init)
#define jsPubOptions_Init NATSLIB_CALL(jsPubOptions_Init)
#define jsStreamConfig_Init NATSLIB_CALL(jsStreamConfig_Init)
#define jsStreamInfo_Destroy NATSLIB_CALL(jsStreamInfo_Destroy)
#define jsSubOptions_Init NATSLIB_CALL(jsSubOptions_Init)
#define js_AddStream NATSLIB_CALL(js_AddStream)
#define js_GetStreamInfo NATSLIB_CALL(js_GetStreamInfo)
#define js_PublishMsgAsync NATSLIB_CALL(js_PublishMsgAsync)
#define js_PullSubscribe NATSLIB_CALL(js_PullSubscribe)
#define natsConnection_Close NATSLIB_CALL(natsConnection_Close)
#define natsConnection_Connect NATSLIB_CALL(natsConnection_Connect)
#define natsConnection_Destroy NATSLIB_CALL(natsConnection_Destroy)
#define natsConnection_FlushTimeout NATSLIB_CALL(natsConnection_FlushTimeout)
#define natsConnection_JetStream NATSLIB_CALL(natsConnection_JetStream)
#define natsConnection_Status NATSLIB_CALL(natsConnection_Status)
#define natsMsgHeader_Get NATSLIB_CALL(natsMsgHeader_Get)
#define natsMsgHeader_Set NATSLIB_CALL(natsMsgHeader_Set)
#define natsMsgList_Destroy NATSLIB_CALL(natsMsgList_Destroy)
#define natsMsg_Ack NATSLIB_CALL(natsMsg_Ack)
#define natsMsg_Create NATSLIB_CALL(natsMsg_Create)
#define natsMsg_Destroy NATSLIB_CALL(natsMsg_Destroy)
#define natsMsg_GetData NATSLIB_CALL(natsMsg_GetData)
#define natsMsg_GetDataLength NATSLIB_CALL(natsMsg_GetDataLength)
#define natsOptions_Create NATSLIB_CALL(natsOptions_Create)
#define natsOptions_Destroy NATSLIB_CALL(natsOptions_Destroy)
#define natsOptions_LoadCATrustedCertificates NATSLIB_CALL(natsOptions_LoadCATrustedCertificates)
#define natsOptions_LoadCertificatesChain NATSLIB_CALL(natsOptions_LoadCertificatesChain)
#define natsOptions_SetDisconnectedCB NATSLIB_CALL(natsOptions_SetDisconnectedCB)
#define natsOptions_SetErrorHandler NATSLIB_CALL(natsOptions_SetErrorHandler)
#define natsOptions_SetMaxPingsOut NATSLIB_CALL(natsOptions_SetMaxPingsOut)
#define natsOptions_SetMaxReconnect NATSLIB_CALL(natsOptions_SetMaxReconnect)
#define natsOptions_SetName NATSLIB_CALL(natsOptions_SetName)
#define natsOptions_SetPingInterval NATSLIB_CALL(natsOptions_SetPingInterval)
#define natsOptions_SetReconnectWait NATSLIB_CALL(natsOptions_SetReconnectWait)
#define natsOptions_SetReconnectedCB NATSLIB_CALL(natsOptions_SetReconnectedCB)
#define natsOptions_SetRetryOnFailedConnect NATSLIB_CALL(natsOptions_SetRetryOnFailedConnect)
#define natsOptions_SetSecure NATSLIB_CALL(natsOptions_SetSecure)
#define natsOptions_SetServers NATSLIB_CALL(natsOptions_SetServers)
#define natsOptions_SetTimeout NATSLIB_CALL(natsOptions_SetTimeout)
#define natsOptions_SetToken NATSLIB_CALL(natsOptions_SetToken)
#define natsOptions_SetUserCredentialsFromFiles NATSLIB_CALL(natsOptions_SetUserCredentialsFromFiles)
#define natsStatus_GetText NATSLIB_CALL(natsStatus_GetText)
#define natsSubscription_Destroy NATSLIB_CALL(natsSubscription_Destroy)
#define natsSubscription_Fetch NATSLIB_CALL(natsSubscription_Fetch)
#define nats_CloseAndWait NATSLIB_CALL(nats_CloseAndWait)
#define nats_GetLastError NATSLIB_CALL(nats_GetLastError)
#define nats_ReleaseThreadMemory NATSLIB_CALL(nats_ReleaseThreadMemory)
#endif

#endif

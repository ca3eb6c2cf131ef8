/* listener.c - listening for connections (ipc://, tcp://, tls+tcp://). */
#include "wire/wire.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "wire/conn_internal.h"

/* ------------------------------------------------------------ listeners */

struct pdi_listener {
    nng_stream_listener *l;
    nng_aio *aio;
    pthread_mutex_t lock; /* accept start vs close, as for connections */
    int closed;
    char url[512];
};

int pdi_listener_open(const char *url, const char *cert_file, const char *key_file,
                      pdi_listener **out)
{
    pdi_listener *l = calloc(1, sizeof *l);
    if (!l)
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    pthread_mutex_init(&l->lock, NULL);
    int nrv = nng_stream_listener_alloc(&l->l, url);
    if (nrv) {
        pthread_mutex_destroy(&l->lock);
        free(l);
        return pdi_nng_err(nrv, url);
    }
    int tls = strncmp(url, "tls+", 4) == 0;
    if (tls) {
        if (!cert_file || !key_file) {
            pdi_listener_free(l);
            return pdi_err(PYDRON_EINVAL, "%s needs a TLS certificate and key file", url);
        }
        nng_tls_config *cfg;
        int rc = pdi_tls_config(NNG_TLS_MODE_SERVER, cert_file, key_file, NULL, NULL, &cfg);
        if (rc) {
            pdi_listener_free(l);
            return rc;
        }
        nrv = nng_stream_listener_set_ptr(l->l, NNG_OPT_TLS_CONFIG, cfg);
        nng_tls_config_free(cfg);
        if (nrv) {
            pdi_listener_free(l);
            return pdi_nng_err(nrv, "TLS listener");
        }
    }
    if (strncmp(url, "ipc://", 6) == 0)
        (void)nng_stream_listener_set_int(l->l, NNG_OPT_IPC_PERMISSIONS, 0600);
    if ((nrv = nng_stream_listener_listen(l->l)) != 0) {
        pdi_listener_free(l);
        return pdi_nng_err(nrv, url);
    }
    if ((nrv = nng_aio_alloc(&l->aio, NULL, NULL)) != 0) {
        pdi_listener_free(l);
        return pdi_nng_err(nrv, "aio");
    }
    snprintf(l->url, sizeof l->url, "%s", url);
    int port;
    if (nng_stream_listener_get_int(l->l, NNG_OPT_TCP_BOUND_PORT, &port) == 0) {
        /* replace the port (":0") by the bound one */
        const char *hs = strstr(url, "://");
        const char *colon = hs ? strrchr(hs + 3, ':') : NULL;
        if (colon)
            snprintf(l->url, sizeof l->url, "%.*s:%d", (int)(colon - url), url, port);
    }
    *out = l;
    return 0;
}

const char *pdi_listener_url(pdi_listener *l) { return l->url; }

int pdi_listener_accept(pdi_listener *l, pdi_conn **out)
{
    pthread_mutex_lock(&l->lock);
    if (l->closed) {
        pthread_mutex_unlock(&l->lock);
        return pdi_err(PYDRON_ECLOSED, "accept: listener closed");
    }
    nng_stream_listener_accept(l->l, l->aio);
    pthread_mutex_unlock(&l->lock);
    nng_aio_wait(l->aio);
    int nrv = nng_aio_result(l->aio);
    if (nrv)
        return pdi_nng_err(nrv, "accept");
    return pdi_conn_wrap(nng_aio_get_output(l->aio, 0), out);
}

void pdi_listener_close(pdi_listener *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    l->closed = 1;
    pthread_mutex_unlock(&l->lock);
    if (l->aio)
        nng_aio_abort(l->aio, NNG_ECLOSED);
    if (l->l)
        nng_stream_listener_close(l->l);
}

void pdi_listener_free(pdi_listener *l)
{
    if (!l)
        return;
    if (l->l)
        nng_stream_listener_close(l->l);
    if (l->aio)
        nng_aio_free(l->aio);
    if (l->l)
        nng_stream_listener_free(l->l);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

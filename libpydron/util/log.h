/* log.h - diagnostic lines on stderr (util/log.c). Nothing here is
 * exported. */
#ifndef PDI_LOG_H
#define PDI_LOG_H

/* One line to stderr, "pydron[pid] <who>: ...", written with one write()
 * so that lines of different processes do not interleave. */
void pdi_log(const char *who, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Debug lines only when PYDRON_DEBUG is set. */
void pdi_debug(const char *who, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif

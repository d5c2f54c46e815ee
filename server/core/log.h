/* log: level-gated, one line per event on stderr, with a module prefix. */
#ifndef VMEDIA_CORE_LOG_H
#define VMEDIA_CORE_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern enum log_level log_current_level;

/* Parses "error", "warn", "info" or "debug"; returns -1 for anything else. */
int log_parse_level(const char *name);

void log_write(enum log_level level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define LOG_AT(level, module, ...) do { \
		if ((level) <= log_current_level) \
			log_write((level), (module), __VA_ARGS__); \
	} while (0)

#define log_error(module, ...) LOG_AT(LOG_ERROR, module, __VA_ARGS__)
#define log_warn(module, ...) LOG_AT(LOG_WARN, module, __VA_ARGS__)
#define log_info(module, ...) LOG_AT(LOG_INFO, module, __VA_ARGS__)
#define log_debug(module, ...) LOG_AT(LOG_DEBUG, module, __VA_ARGS__)

#endif

/* version: the release string and compiled-in paths. */
#ifndef VMEDIA_CORE_VERSION_H
#define VMEDIA_CORE_VERSION_H

#ifndef VMEDIA_VERSION
#define VMEDIA_VERSION "0.1.0"
#endif
#ifndef VMEDIA_WEB_DIR
#define VMEDIA_WEB_DIR "/usr/local/share/vmedia/web"
#endif

#endif

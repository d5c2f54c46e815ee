/* version: the release string. */
#ifndef VMEDIA_CORE_VERSION_H
#define VMEDIA_CORE_VERSION_H

#ifndef VMEDIA_VERSION
#define VMEDIA_VERSION "0.1.0"
#endif

#endif

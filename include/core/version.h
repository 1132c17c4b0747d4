/* version — the one version string of the triage programs (triage, triaged)
 * and of the metadata they write into models. */
#ifndef VERSION_H
#define VERSION_H

#define TRIAGE_VERSION "0.1.0"

#endif

/*  sample.c -- store_load_sample: the five events of the seed page, as published.

    The text is the page's own, byte for byte (it uses U+2019 and U+2013, kept as they are).
    Ids are stable slugs of the month and title; the URLs follow the site's layout. People
    come from the photo captions at the bottom of the page. The Phuket course's press release
    is dated a year after the course: that is what the page says, so it is kept.
*/
#include "store_private.h"

#include <stddef.h>

#define S_NEWS "https://www.interpol.int/News-and-Events/News/"
#define S_EVENTS "https://www.interpol.int/News-and-Events/Events/"

#define S_LYON_ID "2016-01-global-counter-nuclear-smuggling-conference"
#define S_SEVILLE_ID                                                                               \
    "2015-11-interpol-counter-terrorism-working-group-meeting-on-foreign-"                         \
    "terrorist-fighters"
#define S_MIAMI_ID "2014-07-international-law-enforcement-critical-infrastructure-symposium"
#define S_PHUKET_ID                                                                                \
    "2014-06-chemical-and-explosives-terrorism-prevention-course-in-"                              \
    "southeast-asia"
#define S_SYDNEY_ID "2014-01-global-security-and-counter-terrorism-convention"

static const char s_lyon_summary[] =
    "Held as a prelude to the 2016 Nuclear Security Summit (31 March to 1 April, "
    "in Washington DC), this conference brought together some 30 experts to share "
    "their experience and best practice with an audience of more than 260 law "
    "enforcement officials from 117 member countries. As well as promoting "
    "inter-agency cooperation, the conference highlighted INTERPOL’s ability to "
    "provide technical resources and training to member countries with the aim of "
    "preventing the trafficking of nuclear and other radiological materials.";

static const char s_seville_summary[] =
    "Discussions at this Working Group meeting centred on the issue of foreign "
    "terrorist fighters who travel to and from the conflict zones in Syria and "
    "Iraq, and the developing conflict zone in Libya. The main objective of the "
    "Working Group is to contribute to the disruption of the activities of foreign "
    "terrorist fighters, including recruitment and travel networks. As such, the "
    "meeting highlighted the importance of sharing information effectively across "
    "borders via INTERPOL channels.";

static const char s_miami_summary[] =
    "Jointly organized by the FBI and INTERPOL, this symposium promoted increased "
    "integration between law enforcement and the public and private sectors in "
    "order to protect critical infrastructure. ‘Critical infrastructure’ refers to "
    "the physical and virtual assets, systems and networks – such as energy, "
    "transport, water and stadiums – which if incapacitated or destroyed would "
    "have a devastating effect on security, the economy and public health and "
    "safety.";

static const char s_phuket_summary[] =
    "This event brought together representatives of law enforcement, government, "
    "customs and chemical industries from seven countries in Southeast Asia. The "
    "meeting provided an overview of the chemical and explosives terrorism threat "
    "in the region and identified ways in which the countries could work together "
    "to effectively counter the threat.";

static const char s_sydney_summary[] =
    "This convention identified emerging trends in terrorism and transnational "
    "crime with a view to developing a global coordinated response. More than 200 "
    "participants from a variety of sectors discussed issues including "
    "transnational fighters, kidnapping for ransom, and the threat of chemical, "
    "biological, radiological, nuclear and explosives terrorism.";

static const store_person_t s_lyon_people[] = {
    {"Jürgen Stock", "INTERPOL Secretary General"},
    {"Alan King", "Coordinator of INTERPOL's Radiological Nuclear Terrorism Prevention Unit"},
};

static const store_person_t s_seville_people[] = {
    {"Jürgen Stock", "INTERPOL Secretary General"},
    {"Jorge Fernández Díaz", "Ministro del Interior de España"},
    {"Francisco Perea Bartolomé", "jefe superior de Policía de Andalucía Occidental"},
};

static const store_event_t s_events[] = {
    {.id = S_LYON_ID,
     .kind = "conference",
     .title = "Global Counter-Nuclear Smuggling Conference",
     .start_date = "2016-01-27",
     .end_date = "2016-01-29",
     .city = "Lyon",
     .country = "FR",
     .summary = s_lyon_summary,
     .url = S_EVENTS "2016/Global-Counter-Nuclear-Smuggling-Conference",
     .status = "scheduled",
     .cancel_reason = "",
     .people = s_lyon_people,
     .people_count = sizeof s_lyon_people / sizeof s_lyon_people[0]},
    {.id = S_SEVILLE_ID,
     .kind = "working-group-meeting",
     .title = "INTERPOL Counter-Terrorism Working Group Meeting on Foreign Terrorist Fighters",
     .start_date = "2015-11-18",
     .end_date = "2015-11-20",
     .city = "Seville",
     .country = "ES",
     .summary = s_seville_summary,
     .url = S_EVENTS "2015/INTERPOL-Counter-Terrorism-Working-Group-Meeting-on-Foreign-"
                     "Terrorist-Fighters",
     .status = "scheduled",
     .cancel_reason = "",
     .people = s_seville_people,
     .people_count = sizeof s_seville_people / sizeof s_seville_people[0]},
    {.id = S_MIAMI_ID,
     .kind = "symposium",
     .title = "International Law Enforcement Critical Infrastructure Symposium",
     .start_date = "2014-07-07",
     .end_date = "2014-07-10",
     .city = "Miami",
     .country = "US",
     .summary = s_miami_summary,
     .url = S_EVENTS "2014/International-Law-Enforcement-Critical-Infrastructure-Symposium",
     .status = "scheduled",
     .cancel_reason = ""},
    {.id = S_PHUKET_ID,
     .kind = "course",
     .title = "Chemical and Explosives Terrorism Prevention Course in Southeast Asia",
     .start_date = "2014-06-17",
     .end_date = "2014-06-20",
     .city = "Phuket",
     .country = "TH",
     .summary = s_phuket_summary,
     .url = S_EVENTS "2014/Chemical-and-Explosives-Terrorism-Prevention-Course-in-Southeast-"
                     "Asia",
     .status = "scheduled",
     .cancel_reason = ""},
    {.id = S_SYDNEY_ID,
     .kind = "convention",
     .title = "Global Security and Counter Terrorism Convention",
     .start_date = "2014-01-28",
     .end_date = "2014-01-30",
     .city = "Sydney",
     .country = "AU",
     .summary = s_sydney_summary,
     .url = S_EVENTS "2014/Global-Security-and-Counter-Terrorism-Convention",
     .status = "scheduled",
     .cancel_reason = ""},
};

/*  The page links a press release by date only; the titles name the event they cover. */
static const store_press_t s_press[] = {
    {.id = "2016-01-29-global-counter-nuclear-smuggling-conference",
     .event_id = S_LYON_ID,
     .title = "Press release: Global Counter-Nuclear Smuggling Conference (closing)",
     .published_on = "2016-01-29",
     .url = S_NEWS "2016/Global-Counter-Nuclear-Smuggling-Conference-closes",
     .summary = ""},
    {.id = "2016-01-27-global-counter-nuclear-smuggling-conference",
     .event_id = S_LYON_ID,
     .title = "Press release: Global Counter-Nuclear Smuggling Conference (opening)",
     .published_on = "2016-01-27",
     .url = S_NEWS "2016/Global-Counter-Nuclear-Smuggling-Conference-opens",
     .summary = ""},
    {.id = "2015-11-18-interpol-counter-terrorism-working-group-meeting",
     .event_id = S_SEVILLE_ID,
     .title = "Press release: INTERPOL Counter-Terrorism Working Group Meeting on Foreign "
              "Terrorist Fighters",
     .published_on = "2015-11-18",
     .url = S_NEWS "2015/INTERPOL-Counter-Terrorism-Working-Group-Meeting-Seville",
     .summary = ""},
    {.id = "2015-06-25-chemical-and-explosives-terrorism-prevention-course",
     .event_id = S_PHUKET_ID,
     .title = "Press release: Chemical and Explosives Terrorism Prevention Course in "
              "Southeast Asia",
     .published_on = "2015-06-25",
     .url = S_NEWS "2015/Chemical-and-Explosives-Terrorism-Prevention-Course-Phuket",
     .summary = ""},
    {.id = "2014-01-28-global-security-and-counter-terrorism-convention",
     .event_id = S_SYDNEY_ID,
     .title = "Press release: Global Security and Counter Terrorism Convention",
     .published_on = "2014-01-28",
     .url = S_NEWS "2014/Global-Security-and-Counter-Terrorism-Convention-Sydney",
     .summary = ""},
};

int store_load_sample(store_t *self)
{
    bool own = !store_in_transaction(self);
    if (own && store_begin(self) != 0) {
        return -1;
    }
    for (size_t i = 0; i < sizeof s_events / sizeof s_events[0]; i++) {
        if (store_put_event(self, &s_events[i]) != 0) {
            goto fail;
        }
    }
    for (size_t i = 0; i < sizeof s_press / sizeof s_press[0]; i++) {
        if (store_put_press(self, &s_press[i]) != 0) {
            goto fail;
        }
    }
    if (own && store_commit(self) != 0) {
        goto fail;
    }
    return 0;
fail:
    if (own) {
        store_rollback(self);
    }
    return -1;
}

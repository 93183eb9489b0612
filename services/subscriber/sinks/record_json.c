/*  record_json.c -- a record's shared fields as jansson values (record_json.h). */
#include "record_json.h"

#include <string.h>

json_t *record_json_str(const char *s)
{
    return json_stringn_nocheck(s, strlen(s));
}

void record_json_event(json_t *o, const Herald__V1__Event *e)
{
    json_object_set_new(o, "kind", record_json_str(e->kind));
    json_object_set_new(o, "title", record_json_str(e->title));
    json_object_set_new(o, "start_date", record_json_str(e->start_date));
    json_object_set_new(o, "end_date", record_json_str(e->end_date));
    json_object_set_new(o, "city", record_json_str(e->city));
    json_object_set_new(o, "country", record_json_str(e->country));
    json_object_set_new(o, "summary", record_json_str(e->summary));
    json_object_set_new(o, "url", record_json_str(e->url));
}

json_t *record_json_people(const Herald__V1__Event *e)
{
    json_t *people = json_array();
    for (size_t i = 0; people && i < e->n_people; i++) {
        json_t *person = json_object();
        json_object_set_new(person, "name", record_json_str(e->people[i]->name));
        json_object_set_new(person, "role", record_json_str(e->people[i]->role));
        json_array_append_new(people, person);
    }
    return people;
}

void record_json_press(json_t *o, const Herald__V1__PressRelease *p)
{
    json_object_set_new(o, "title", record_json_str(p->title));
    json_object_set_new(o, "published_on", record_json_str(p->published_on));
    json_object_set_new(o, "url", record_json_str(p->url));
    json_object_set_new(o, "summary", record_json_str(p->summary));
}

/*  main.c -- herald-store, the command-line tool that creates, edits and dumps a store. */
#include "store.h"

int main(void)
{
    return 0;
}

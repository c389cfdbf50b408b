#include "agora/agora.h"
#include <stdio.h>
int main(void){ printf("%s\n", agora_version()); return 0; }

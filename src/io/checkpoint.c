/* agora — checkpoint files: the state of a run at one step, so that a killed run can go on from there
 * (`agora run --checkpoint-every N`, `--resume`). See include/agora/checkpoint.h.
 *
 * A checkpoint is a small HDF5 file beside the run file (RUN.h5.ckpt): the root attribute `run` holds what the run
 * loop needs (the step, the run file's marks, the summary so far, the personas' state) as JSON, and /state holds
 * the world's saved parts (agora_world_save) as byte arrays, one dataset each. It is written to RUN.h5.ckpt.tmp,
 * synced and renamed over the old one, so a kill at any moment leaves either the old checkpoint or the new one,
 * never half of one. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "agora/agora.h"
#include "agora/checkpoint.h"
#include "core/internal.h"
#include "io/h5internal.h"

#define CHECKPOINT_FORMAT 1

typedef struct io_state {
    hid_t group;
} io_state;

static int put_part(void *ud, const char *name, const void *data, size_t bytes, agora_error *err)
{
    io_state *io = ud;
    hsize_t n = (hsize_t)bytes;
    hid_t space = H5Screate_simple(1, &n, NULL), d = H5I_INVALID_HID;
    int rc = 0;
    if (space < 0 || (d = H5Dcreate2(io->group, name, H5T_NATIVE_UINT8, space, H5P_DEFAULT, H5P_DEFAULT,
                                     H5P_DEFAULT)) < 0 ||
        (bytes > 0 && H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0))
        rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot write the state part %s", name);
    agora__h5_close(&d);
    agora__h5_close(&space);
    return rc;
}

static int get_part(void *ud, const char *name, void *data, size_t bytes, agora_error *err)
{
    io_state *io = ud;
    if (H5Lexists(io->group, name, H5P_DEFAULT) <= 0)
        return agora_error_set(err, AGORA_EINVAL, name, "the checkpoint has no state part %s", name);
    hid_t d = H5Dopen2(io->group, name, H5P_DEFAULT), space = H5I_INVALID_HID;
    int rc = 0;
    hsize_t n = 0;
    if (d < 0 || (space = H5Dget_space(d)) < 0 || H5Sget_simple_extent_dims(space, &n, NULL) != 1) {
        rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot read the state part %s", name);
        goto done;
    }
    if (n != (hsize_t)bytes) {
        rc = agora_error_set(err, AGORA_EINVAL, name, "the state part %s holds %llu bytes, this world needs %zu",
                             name, (unsigned long long)n, bytes);
        goto done;
    }
    if (bytes > 0 && H5Dread(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        rc = agora__h5_fail(err, AGORA_EHDF5, name, "cannot read the state part %s", name);
done:
    agora__h5_close(&space);
    agora__h5_close(&d);
    return rc;
}

/* Makes a renamed file survive a power cut: its data, then the directory entry. */
static void sync_path(const char *path, int directory)
{
    int fd = open(path, directory ? O_RDONLY : O_RDWR);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int agora_checkpoint_write(const char *path, const agora_world *w, const json_t *run, agora_error *err)
{
    if (!path || !w || !run)
        return agora_error_set(err, AGORA_EINVAL, path, "agora_checkpoint_write needs a path, a world and a run");
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    char *text = agora__json_dumps(run, JSON_COMPACT | JSON_PRESERVE_ORDER); /* key order is state too (prompts list memories in it) */
    if (!text)
        return agora_error_set(err, AGORA_ENOMEM, path, "out of memory");
    agora__h5_quiet q;
    agora__h5_quiet_begin(&q);
    hid_t file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), g = H5I_INVALID_HID;
    int rc = 0, format = CHECKPOINT_FORMAT;
    if (file < 0) {
        rc = agora__h5_fail(err, AGORA_EIO, tmp, "cannot create the checkpoint");
        goto done;
    }
    if ((rc = agora__h5_attr_text(file, "agora_version", agora_version(), err)) ||
        (rc = agora__h5_attr_scalar(file, "format", H5T_STD_I32LE, H5T_NATIVE_INT, &format, err)) ||
        (rc = agora__h5_attr_text(file, "run", text, err)))
        goto done;
    if ((g = H5Gcreate2(file, "state", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
        rc = agora__h5_fail(err, AGORA_EHDF5, tmp, "cannot create /state");
        goto done;
    }
    io_state io = {.group = g};
    agora_state st = {.ud = &io, .put = put_part, .get = get_part};
    rc = agora_world_save(w, &st, err);
done:
    agora__h5_close(&g);
    if (file >= 0 && H5Fclose(file) < 0 && rc == 0)
        rc = agora__h5_fail(err, AGORA_EIO, tmp, "cannot close the checkpoint");
    agora__h5_quiet_end(&q);
    free(text);
    if (rc == 0) {
        sync_path(tmp, 0);
        if (rename(tmp, path) != 0)
            rc = agora_error_set(err, AGORA_EIO, path, "cannot move the new checkpoint into place");
        char dir[4200];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        sync_path(slash ? (dir[0] ? dir : "/") : ".", 1);
    }
    if (rc)
        remove(tmp);
    return rc;
}

static int open_checkpoint(const char *path, hid_t *file, agora_error *err)
{
    if (access(path, F_OK) != 0)
        return agora_error_set(err, AGORA_ENOTFOUND, path, "no checkpoint");
    *file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*file < 0)
        return agora__h5_fail(err, AGORA_EIO, path, "cannot open the checkpoint");
    return 0;
}

int agora_checkpoint_read(const char *path, json_t **run, agora_error *err)
{
    *run = NULL;
    agora__h5_quiet q;
    agora__h5_quiet_begin(&q);
    hid_t file = H5I_INVALID_HID;
    json_t *attrs = NULL;
    static const char *const parsed[] = {"run", NULL};
    int rc = open_checkpoint(path, &file, err);
    if (rc == 0 && (rc = agora__h5_attrs_json(file, parsed, &attrs, err)) == 0) {
        const json_t *r = json_object_get(attrs, "run");
        if (json_integer_value(json_object_get(attrs, "format")) != CHECKPOINT_FORMAT || !json_is_object(r))
            rc = agora_error_set(err, AGORA_EINVAL, path, "not an agora checkpoint of format %d", CHECKPOINT_FORMAT);
        else
            *run = json_incref((json_t *)r);
    }
    json_decref(attrs);
    agora__h5_close(&file);
    agora__h5_quiet_end(&q);
    return rc;
}

int agora_checkpoint_load_world(const char *path, agora_world *w, agora_error *err)
{
    agora__h5_quiet q;
    agora__h5_quiet_begin(&q);
    hid_t file = H5I_INVALID_HID, g = H5I_INVALID_HID;
    int rc = open_checkpoint(path, &file, err);
    if (rc == 0 && (g = H5Gopen2(file, "state", H5P_DEFAULT)) < 0)
        rc = agora__h5_fail(err, AGORA_EHDF5, path, "the checkpoint has no /state");
    if (rc == 0) {
        io_state io = {.group = g};
        agora_state st = {.ud = &io, .put = put_part, .get = get_part};
        rc = agora_world_load(w, &st, err);
    }
    agora__h5_close(&g);
    agora__h5_close(&file);
    agora__h5_quiet_end(&q);
    return rc;
}

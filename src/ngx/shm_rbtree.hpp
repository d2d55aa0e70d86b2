// The rbtree idiom of nginx's shared-memory zones (as limit_req's): nodes
// ordered by a hash in node->key, ties broken by comparing what was hashed.
// The zones (apikey_cache, apikey_local_limits) differ only in that
// comparison, so each gives it and shares the walk.
#pragma once

extern "C" {
#include <ngx_config.h>
#include <ngx_core.h>
}

namespace apikey {

// ngx_rbtree_insert_pt for ngx_rbtree_init: `Compare(a, b)` orders two nodes
// of equal key (negative: a first).
template <ngx_int_t (*Compare)(ngx_rbtree_node_t *a, ngx_rbtree_node_t *b)>
void
rbtree_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t  **p;

    for ( ;; ) {
        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;
        } else {
            p = (Compare(node, temp) < 0) ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


// The node with this key for which `compare(node)` is 0 (negative: what is
// sought orders before node), or NULL. Called with the zone locked.
template <typename Compare>
ngx_rbtree_node_t *
rbtree_find(ngx_rbtree_t *tree, ngx_rbtree_key_t key, Compare compare)
{
    ngx_rbtree_node_t  *n = tree->root;

    while (n != tree->sentinel) {
        if (key != n->key) {
            n = (key < n->key) ? n->left : n->right;
            continue;
        }

        ngx_int_t rc = compare(n);
        if (rc == 0) {
            return n;
        }
        n = (rc < 0) ? n->left : n->right;
    }

    return NULL;
}

}  // namespace apikey

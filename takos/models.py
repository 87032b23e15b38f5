"""Shared model bases."""

from django.db import models

from takos.api.ids import new_id


class IdModel(models.Model):
    """12-character random primary key, as in the reference platform."""

    id = models.CharField(primary_key=True, max_length=12, default=new_id, editable=False)

    class Meta:
        abstract = True


class TimestampedModel(IdModel):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

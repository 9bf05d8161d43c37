"""Operations: the campaign's indices, its dashboard definition and the backlog gauge."""
